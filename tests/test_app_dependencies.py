"""Route handlers receive their collaborators by parameter name (`composition.DEPENDENCIES`). Litestar
reads a request-body field that shares such a name as that dependency, failed, and answers 500 where
the client should get its 422 (a `destinations` body field beside a `destinations` dependency did)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway import make_key, serve
from videoapi.app import create_app
from videoapi.composition import DEPENDENCIES
from videoapi.settings import load_settings


def body_field_names(schema: dict[str, Any]) -> set[str]:
    """Every property name of every component of the served OpenAPI document."""
    names: set[str] = set()
    for component in schema.get("components", {}).get("schemas", {}).values():
        names |= set(component.get("properties", {}))
    return names


def test_no_dependency_shares_its_name_with_a_request_field(tmp_path: Path) -> None:
    app = create_app(load_settings(environ={"VIDEOAPI_SERVER__VAR_DIR": str(tmp_path)}))
    clashes = set(DEPENDENCIES) & body_field_names(app.openapi_schema.to_schema())
    assert not clashes, f"rename these dependencies (body fields of the same name break validation): {clashes}"


def test_a_bad_destinations_field_is_a_422_over_a_real_socket(tmp_path: Path) -> None:
    # The in-process test client does not show it: uvicorn does, as a client sees it.
    settings = load_settings(
        environ={"VIDEOAPI_SERVER__VAR_DIR": str(tmp_path / "var"), "VIDEOAPI_SERVER__ENVIRONMENT": "test"}
    )
    body = {"input": {"asset_id": None, "url": None}, "destinations": [{"id": "0"}]}
    with serve(settings) as base:
        key = make_key(settings, "deps", scopes=["edit"])
        resp = httpx.post(f"{base}/v1/video/edit/audio", json=body, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 422, resp.text
