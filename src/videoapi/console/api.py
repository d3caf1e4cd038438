"""The web console's pages at /console: static files shipped in this package, served with a strict CSP.

The console is a plain ES-module app that talks to the public API from the browser with the key the
user signs in with; these routes only hand out its files, so they need no key (the files hold none).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


def content_security_policy(media_origins: Sequence[str] = ()) -> str:
    """Scripts and styles from this origin only (no inline code); media also from the object store's origin."""
    media = " ".join(["'self'", "blob:", *media_origins])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media} data:",
            f"media-src {media}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def console_files() -> dict[str, Path]:
    """Every file the console serves, by its path under /console/ (a fixed set: no path is built from input)."""
    return {p.relative_to(STATIC).as_posix(): p for p in sorted(STATIC.rglob("*")) if p.is_file()}


def console_routes(media_origins: Sequence[str] = ()) -> list[HTTPRouteHandler]:
    """`GET /console` (the page) and `GET /console/{path}` (its scripts and styles)."""
    files = console_files()
    headers = {
        "content-security-policy": content_security_policy(media_origins),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
    }

    def serve(name: str) -> Response[bytes]:
        path = files.get(name)
        if path is None or path.suffix not in CONTENT_TYPES:
            raise NotFoundException()
        return Response(path.read_bytes(), media_type=CONTENT_TYPES[path.suffix], headers=headers)

    @get(["/console", "/console/"], include_in_schema=False, sync_to_thread=False)
    def console_page() -> Response[bytes]:
        return serve("index.html")

    @get("/console/{name:path}", include_in_schema=False, sync_to_thread=False)
    def console_file(name: FromPath[str]) -> Response[bytes]:
        return serve(name.lstrip("/"))

    return [console_page, console_file]
