"""Write docs/errors.md from `videoapi.errors.CATALOGUE` (tests/test_errors_catalogue.py checks it)."""

from __future__ import annotations

from pathlib import Path

from videoapi.errors import render_catalogue

PAGE = Path(__file__).resolve().parents[1] / "docs" / "errors.md"

if __name__ == "__main__":
    PAGE.write_text(render_catalogue())
    print(f"wrote {PAGE}")
