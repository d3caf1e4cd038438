"""Every route of the OpenAPI schema is documented, as `METHOD /path`, in some docs/api/*.md page."""

from __future__ import annotations

from pathlib import Path

from videoapi.app import create_app
from videoapi.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def test_every_route_is_documented(tmp_path: Path) -> None:
    # The schema is built from the route handlers: no lifespan, no database, no broker.
    app = create_app(load_settings(environ={"VIDEOAPI_SERVER__VAR_DIR": str(tmp_path)}))
    routes = [
        f"{method.upper()} {path}"
        for path, item in app.openapi_schema.paths.items()
        for method in METHODS
        if getattr(item, method, None) is not None
    ]
    gateway = {"/v1/video/batch/edit", "/v1/video/batch/generate", "/v1/video/tasks/{task_id}/webhooks"}
    assert gateway <= set(app.openapi_schema.paths)
    pages = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs" / "api").glob("*.md")))
    missing = [route for route in routes if route not in pages]
    assert not missing, "routes not documented in docs/api/*.md: " + ", ".join(missing)
