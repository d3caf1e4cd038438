"""Shared builders and helpers for the tests (importable modules; fixtures stay in conftest.py)."""
