"""Operator tooling behind the admin CLI: installation checks (`videoapi doctor`) and disk usage."""
