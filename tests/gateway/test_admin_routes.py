"""The admin routes (`admin` scope): keys created, listed, revoked, given a new webhook secret and a quota; usage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.support.app import Api, assert_problem, with_services
from videoapi.billing.models import UsageRecord


def admin_api(api: Api) -> Api:
    key = with_services(api.settings, lambda s: s.keys.create("root", scopes=["admin"]))[1]
    return api.as_key(key)


def test_admin_creates_a_key_that_works_and_lists_it_with_its_quota(api: Api) -> None:
    admin = admin_api(api)
    resp = admin.post("/v1/admin/keys", json={"name": "ci", "scopes": ["read"], "monthly_credits": 12.5})
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["api_key"].startswith(f"vk_{made['prefix']}_")
    assert made["webhook_secret"].startswith("whsec_")
    assert made["scopes"] == ["read"]
    # The new key authenticates, sees its own quota, and its scope holds (read, not edit).
    new = api.as_key(made["api_key"])
    assert new.get("/v1/video/usage").json()["quota"]["monthly_credits"] == 12.5
    assert_problem(new.post("/v1/video/edit/trim", json={}), 403)
    listed = {k["id"]: k for k in admin.get("/v1/admin/keys").json()["items"]}
    assert listed[made["id"]]["monthly_credits"] == 12.5
    assert "api_key" not in listed[made["id"]]


def test_revoked_key_stops_working_at_once(api: Api) -> None:
    admin = admin_api(api)
    made = admin.post("/v1/admin/keys", json={"name": "gone"}).json()
    assert api.as_key(made["api_key"]).get("/v1/video/tasks").status_code == 200
    resp = admin.post(f"/v1/admin/keys/{made['id']}/revoke")
    assert resp.status_code == 200, resp.text
    assert resp.json()["revoked_at"] is not None
    assert_problem(api.as_key(made["api_key"]).get("/v1/video/tasks"), 401, "invalid_api_key")


def test_rotated_webhook_secret_signs_next_to_the_old_one(api: Api) -> None:
    admin = admin_api(api)
    made = admin.post("/v1/admin/keys", json={"name": "hooks"}).json()
    resp = admin.post(f"/v1/admin/keys/{made['prefix']}/webhook-secret", json={"keep_old_hours": 1})
    assert resp.status_code == 200, resp.text
    secrets = resp.json()["secrets"]
    assert len(secrets) == 2 and secrets[1] == made["webhook_secret"] and secrets[0] != made["webhook_secret"]
    # The key itself sees the same secrets.
    assert api.as_key(made["api_key"]).get("/v1/video/webhooks/secret").json()["secrets"] == secrets


def test_quota_is_set_and_removed(api: Api) -> None:
    admin = admin_api(api)
    made = admin.post("/v1/admin/keys", json={"name": "q"}).json()
    key_id = made["id"]
    assert admin.put(f"/v1/admin/keys/{key_id}/quota", json={"monthly_credits": 3}).json()["monthly_credits"] == 3
    assert api.as_key(made["api_key"]).get("/v1/video/usage").json()["quota"]["monthly_credits"] == 3
    assert admin.put(f"/v1/admin/keys/{key_id}/quota", json={"monthly_credits": None}).json()["monthly_credits"] is None
    bad = assert_problem(admin.put(f"/v1/admin/keys/{key_id}/quota", json={"monthly_credits": -1}), 422)
    assert "monthly_credits" in bad["detail"]
    assert_problem(admin.put("/v1/admin/keys/nope/quota", json={"monthly_credits": 1}), 404)


def test_admin_routes_need_the_admin_scope(api: Api) -> None:
    # The fixture's key has the default scopes (generate, edit, read): not admin.
    assert_problem(api.get("/v1/admin/keys"), 403)
    assert_problem(api.post("/v1/admin/keys", json={"name": "x"}), 403)
    assert_problem(api.get("/v1/admin/usage"), 403)


def test_usage_of_everyone_by_day_and_of_one_key(api: Api) -> None:
    admin = admin_api(api)
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    rows = [("a", "edit.trim", 1.0, yesterday), ("a", "edit.trim", 2.0, now), ("b", "edit.transcode", 0.5, now)]

    async def record(services: Any) -> None:
        async with services.sessions() as session, session.begin():
            for i, (owner, kind, credits, at) in enumerate(rows):
                session.add(
                    UsageRecord(
                        owner_id=owner,
                        task_id=f"t{i}",
                        kind=kind,
                        credits=credits,
                        output_seconds=1.0,
                        tier="sd",
                        created_at=at,
                    )
                )

    with_services(api.settings, record)
    since = (now - timedelta(days=7)).date().isoformat()
    body = admin.get("/v1/admin/usage", params={"since": since}).json()
    assert body["total_tasks"] == 3 and body["total_credits"] == 3.5
    days = {(r["date"], r["kind"]): r["credits"] for r in body["by_day_and_kind"]}
    assert days == {
        (yesterday.date().isoformat(), "edit.trim"): 1.0,
        (now.date().isoformat(), "edit.trim"): 2.0,
        (now.date().isoformat(), "edit.transcode"): 0.5,
    }
    one = admin.get("/v1/admin/usage", params={"since": since, "key_id": "b"}).json()
    assert one["total_tasks"] == 1 and one["by_day_and_kind"][0]["kind"] == "edit.transcode"
    future = (date.today() + timedelta(days=3)).isoformat()
    assert "since" in assert_problem(admin.get("/v1/admin/usage", params={"since": future}), 422)["detail"]
