"""Changing a saved destination (PATCH), and rotating the server's key that seals destination credentials."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.app import (
    Api,
    assert_problem,
    create_key,
    running_app,
    settings_in,
    toml_value,
    with_services,
)
from videoapi.destinations.crypto import CredentialBox
from videoapi.destinations.models import Destination
from videoapi.settings import Settings

OLD_KEY = "0ld-destinations-key-0123456789abcdef"
NEW_KEY = "n3w-destinations-key-0123456789abcdef"
BODY = {
    "endpoint": "https://s3.example.com",
    "bucket": "acme-renders",
    "prefix": "videoapi/",
    "access_key": "AKIAEXAMPLE7Q2F",
    "secret_key": "first-secret-key",
    "name": "archive",
}


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Any:
    with running_app(make_settings(**{"destinations.encryption_key": OLD_KEY})) as api:
        yield api


def credentials_of(settings: Settings, destination_id: str) -> tuple[str, Any]:
    async def run(services: Any) -> tuple[str, Any]:
        async with services.sessions() as session:
            token = await session.scalar(select(Destination.credentials).where(Destination.id == destination_id))
        return token, services.destinations.box.open(token)

    return with_services(settings, run)


def test_a_patch_changes_only_the_fields_given(api: Api) -> None:
    created = api.post("/v1/video/destinations", json=BODY).json()
    resp = api.patch(f"/v1/video/destinations/{created['id']}", json={"prefix": "renders/2027/", "name": None})
    assert resp.status_code == 200, resp.text
    changed = resp.json()
    assert changed["prefix"] == "renders/2027/" and changed["name"] is None
    assert {k: changed[k] for k in ("endpoint", "bucket", "region", "access_key", "created_at")} == {
        k: created[k] for k in ("endpoint", "bucket", "region", "access_key", "created_at")
    }
    assert api.get(f"/v1/video/destinations/{created['id']}").json() == changed
    _, opened = credentials_of(api.settings, created["id"])
    assert (opened.access_key, opened.secret_key) == ("AKIAEXAMPLE7Q2F", "first-secret-key")


def test_credentials_are_replaced_as_a_pair_and_stay_sealed(api: Api) -> None:
    created = api.post("/v1/video/destinations", json=BODY).json()
    url = f"/v1/video/destinations/{created['id']}"
    alone = assert_problem(api.patch(url, json={"access_key": "AKIANEWKEY9X1B"}), 422)
    assert alone["errors"][0]["field"] == "secret_key"
    resp = api.patch(url, json={"access_key": "AKIANEWKEY9X1B", "secret_key": "second"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["access_key"] == "****9X1B"
    assert "second" not in resp.text
    token, opened = credentials_of(api.settings, created["id"])
    assert (opened.access_key, opened.secret_key) == ("AKIANEWKEY9X1B", "second")
    assert "second" not in token


def test_bad_patches_are_422_naming_the_field_and_others_see_404(api: Api) -> None:
    created = api.post("/v1/video/destinations", json=BODY).json()
    url = f"/v1/video/destinations/{created['id']}"
    forbidden = assert_problem(api.patch(url, json={"endpoint": "http://10.0.0.5"}), 422)
    assert forbidden["code"] == "url_forbidden" and forbidden["errors"][0]["field"] == "endpoint"
    assert "bucket" in assert_problem(api.patch(url, json={"bucket": "No_Such"}), 422)["detail"]
    assert "colour" in assert_problem(api.patch(url, json={"colour": "red"}), 422)["detail"]
    other = api.as_key(create_key(api.settings, "other"))
    assert_problem(other.patch(url, json={"prefix": "x/"}), 404, "destination_not_found")
    assert api.get(url).json()["prefix"] == "videoapi/"


def test_rotating_the_encryption_key_loses_no_credentials(
    tmp_path: Any, cli: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Saved under the old key.
    before = settings_in(tmp_path, **{"destinations.encryption_key": OLD_KEY})
    with running_app(before) as api:
        ids = [api.post("/v1/video/destinations", json={**BODY, "name": f"d{i}"}).json()["id"] for i in range(3)]
    # The operator sets a new key and keeps the old one readable: nothing is lost before the rekey...
    env = {"destinations.encryption_key": NEW_KEY, "destinations.previous_encryption_keys": [OLD_KEY]}
    rotated = settings_in(tmp_path, **env)
    for destination_id in ids:
        assert credentials_of(rotated, destination_id)[1].secret_key == "first-secret-key"
    # ...then `videoapi destinations rekey` reseals every row under the new key alone.
    set_env(monkeypatch, env)
    out = cli("destinations", "rekey")
    assert "resealed 3, already under the current key 0" in out
    only_new = settings_in(tmp_path, **{"destinations.encryption_key": NEW_KEY})
    for destination_id in ids:
        token, opened = credentials_of(only_new, destination_id)
        assert opened.secret_key == "first-secret-key"
        assert CredentialBox(NEW_KEY).is_current(token)
    assert "resealed 0, already under the current key 3" in cli("destinations", "rekey")


def test_rekey_names_the_destinations_no_configured_key_opens(
    tmp_path: Any, cli: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_app(settings_in(tmp_path, **{"destinations.encryption_key": OLD_KEY})) as api:
        lost = api.post("/v1/video/destinations", json=BODY).json()["id"]
    set_env(monkeypatch, {"destinations.encryption_key": NEW_KEY})
    out = cli("destinations", "rekey", ok=False)
    assert lost in out and "PATCH" in out


def set_env(monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any]) -> None:
    """The settings as an operator sets them for the CLI: VIDEOAPI_* variables."""
    for dotted, value in settings.items():
        monkeypatch.setenv("VIDEOAPI_" + dotted.upper().replace(".", "__"), toml_value(value))
