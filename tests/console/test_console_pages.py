"""The console's files are served by the app at /console, without a key, with a strict CSP and no inline code."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.app import Api
from videoapi.console.api import STATIC, console_files

PAGES = ["/console", "/console/", "/console/app.js", "/console/style.css", "/console/schema.js"]


def test_console_files_are_served_without_a_key_with_a_strict_csp_and_nothing_else_is(api: Api) -> None:
    for path in PAGES:
        resp = api.client.get(path)  # no Authorization header: the files hold no secret
        assert resp.status_code == 200, (path, resp.text)
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        kind = (
            "text/html" if path.rstrip("/") == "/console" else "text/javascript" if path.endswith(".js") else "text/css"
        )
        assert resp.headers["content-type"].startswith(kind), path
    for path in ["/console/nope.js", "/console/../app.py", "/console/%2e%2e/api.py", "/console/api.py"]:
        assert api.client.get(path).status_code == 404, path


def test_the_page_has_no_inline_script_or_style_and_no_outside_origin() -> None:
    html = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in html and not re.search(r"\s(style|on\w+)=", html)
    for path in console_files().values():
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), f"{path.name} names an outside origin"
        assert ".innerHTML" not in text, f"{path.name} builds markup from strings"


def test_the_console_is_not_in_the_openapi_schema(api: Api) -> None:
    paths = api.client.get("/schema/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]


def test_the_console_files_ship_in_the_package() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"videoapi.console" = ["static/*"' in pyproject
    assert {"index.html", "app.js", "api.js", "schema.js", "style.css"} <= set(console_files())


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_text_colours_meet_wcag_aa_contrast() -> None:
    css = (STATIC / "style.css").read_text()
    colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    header = re.search(r"\.bar \{[^}]*background: (#[0-9a-fA-F]{6})", css)
    assert header, "the header bar's background colour"
    pairs = [
        ("fg", "bg"), ("muted", "bg"), ("accent", "bg"), ("bad", "bg"), ("good", "bg"),
        ("fg", "panel"), ("muted", "panel"), ("accent", "panel"), ("bad", "panel"), ("accent-fg", "accent"),
    ]  # fmt: skip
    for text, background in pairs:
        ratio = contrast(colours[text], colours[background])
        assert ratio >= 4.5, f"--{text} on --{background}: {ratio:.2f}:1"
    assert contrast("#ffffff", header.group(1)) >= 4.5
