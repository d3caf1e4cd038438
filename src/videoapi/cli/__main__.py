"""`python -m videoapi.cli ...`, the same as the `videoapi` script."""

from __future__ import annotations

from videoapi.cli import main

main()
