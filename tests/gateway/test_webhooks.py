"""Webhooks: Standard Webhooks signatures (checked by the reference library), retries, 410, rotation, log, redeliver."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.app import Api, assert_problem, running_app, with_services
from tests.support.gateway import HostileReceiver, Receiver, make_key
from tests.support.waits import wait_until
from videoapi.settings import Settings

# Loopback inputs are refused by the worker at once, so these tasks fail within milliseconds.
FAILING_TRIM = {"input": {"url": "http://127.0.0.1:9/a.mp4"}, "start_s": 0, "end_s": 1}
FAST = {
    "gateway.webhook_allow_cidrs": ["127.0.0.0/8"],
    "gateway.webhook_poll_interval_s": 0.1,
    "gateway.webhook_retry_delays_s": [0.2, 0.2, 0.2],
    "gateway.webhook_timeout_s": 5.0,
    # The receivers listen on random ports; empty: any port.
    "gateway.webhook_allow_ports": [],
}


@pytest.fixture
def hook_api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    with running_app(make_settings(**FAST)) as api:
        yield api


def secrets_of(settings: Settings, key: str) -> list[str]:
    async def run(services: Any) -> list[str]:
        found = await services.keys.authenticate(key)
        return await services.keys.webhook_secrets(found.id)

    return with_services(settings, run)


def webhook_log(api: Api, task_id: str, until: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        items = api.get(f"/v1/video/tasks/{task_id}/webhooks").json()["items"]
        if until(items):
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"webhook log never matched: {items}")
        time.sleep(0.1)


def test_terminal_state_is_posted_signed_per_standard_webhooks(hook_api: Api, receiver: Receiver) -> None:
    task = hook_api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()}).json()
    request = receiver.wait_for(1)[0]
    (secret,) = secrets_of(hook_api.settings, hook_api.key)
    assert secret.startswith("whsec_")
    payload = Webhook(secret).verify(request["body"], request["headers"])
    assert payload["type"] == "task.failed"
    assert payload["data"]["id"] == task["id"]
    assert payload["data"]["status"] == "failed"
    assert payload["data"]["error"]["code"] == "url_forbidden"
    assert request["headers"]["webhook-id"].startswith("msg_")
    assert abs(int(request["headers"]["webhook-timestamp"]) - time.time()) < 30
    # Tampering is detected by the reference library.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request["body"].replace(b"failed", b"succeeded"), request["headers"])
    other_secret = secrets_of(hook_api.settings, make_key(hook_api.settings))[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(request["body"], request["headers"])
    log = webhook_log(hook_api, task["id"], lambda items: items and items[0]["status"] == "succeeded")
    assert log[0]["event_type"] == "task.failed"
    assert log[0]["attempts"][0]["status_code"] == 200
    assert log[0]["attempts"][0]["latency_ms"] > 0
    time.sleep(0.5)  # stays: the assert is that no second delivery comes during this window
    assert len(receiver.requests) == 1  # delivered once, not on every poll


def test_failures_and_redirects_are_retried_with_the_same_id(hook_api: Api, receiver: Receiver) -> None:
    receiver.statuses = [500, 302]
    task = hook_api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()}).json()
    requests = receiver.wait_for(3)
    assert {r["headers"]["webhook-id"] for r in requests} == {requests[0]["headers"]["webhook-id"]}
    assert [r["path"] for r in requests] == ["/hook"] * 3  # the 302 was not followed
    log = webhook_log(hook_api, task["id"], lambda items: items and items[0]["status"] == "succeeded")
    attempts = log[0]["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 302, 200]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert attempts[0]["error"] == "HTTP 500" and "redirects are not followed" in attempts[1]["error"]


def test_retries_give_up_after_the_schedule(hook_api: Api, receiver: Receiver) -> None:
    receiver.statuses = [503] * 10
    task = hook_api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()}).json()
    log = webhook_log(hook_api, task["id"], lambda items: items and items[0]["status"] == "failed")
    assert len(log[0]["attempts"]) == 4  # the first try and the three configured retries
    assert len(receiver.requests) == 4


def test_410_disables_the_endpoint_until_redelivered(hook_api: Api, receiver: Receiver) -> None:
    receiver.statuses = [410]
    first = hook_api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()}).json()
    webhook_log(hook_api, first["id"], lambda items: items and items[0]["status"] == "disabled")
    second = hook_api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()}).json()
    log = webhook_log(hook_api, second["id"], lambda items: items and items[0]["status"] == "disabled")
    assert "410" in log[0]["attempts"][0]["error"] and log[0]["attempts"][0]["status_code"] is None
    assert len(receiver.requests) == 1  # nothing was sent to the disabled endpoint
    # Another URL of the same owner is not affected.
    third = hook_api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url("/other")}).json()
    webhook_log(hook_api, third["id"], lambda items: items and items[0]["status"] == "succeeded")
    # Redeliver: same webhook-id, endpoint enabled again.
    again = hook_api.post(f"/v1/video/tasks/{first['id']}/webhooks/redeliver")
    assert again.status_code == 202, again.text
    assert again.json()["webhook_id"] == webhook_log(hook_api, first["id"], bool)[0]["webhook_id"]
    first_log = webhook_log(hook_api, first["id"], lambda items: len(items) == 2 and items[1]["status"] == "succeeded")
    assert first_log[1]["webhook_id"] == first_log[0]["webhook_id"]
    assert receiver.requests[-1]["headers"]["webhook-id"] == first_log[0]["webhook_id"]


def test_redeliver_refuses_unfinished_tasks_and_tasks_without_url(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    with running_app(make_settings(**FAST)) as api:
        no_url = api.post("/v1/video/edit/trim", json=FAILING_TRIM).json()
        api.wait(no_url["id"])
        assert_problem(api.post(f"/v1/video/tasks/{no_url['id']}/webhooks/redeliver"), 422, "no_webhook_url")
        other = api.as_key(make_key(api.settings))
        assert_problem(other.get(f"/v1/video/tasks/{no_url['id']}/webhooks"), 404)
        assert_problem(other.post(f"/v1/video/tasks/{no_url['id']}/webhooks/redeliver"), 404)


def test_rotated_secret_signs_with_old_and_new(hook_api: Api, receiver: Receiver) -> None:
    (old,) = secrets_of(hook_api.settings, hook_api.key)

    async def rotate(services: Any) -> None:
        key = await services.keys.authenticate(hook_api.key)
        await services.keys.rotate_webhook_secret(key.id, keep_old_s=3600)

    with_services(hook_api.settings, rotate)
    new, still_old = secrets_of(hook_api.settings, hook_api.key)
    assert still_old == old and new != old
    hook_api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()})
    request = receiver.wait_for(1)[0]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request["body"], request["headers"])
    Webhook(new).verify(request["body"], request["headers"])


def test_rotation_grace_period_ends(hook_api: Api, receiver: Receiver) -> None:
    async def rotate(services: Any) -> None:
        key = await services.keys.authenticate(hook_api.key)
        await services.keys.rotate_webhook_secret(key.id, keep_old_s=0)

    (old,) = secrets_of(hook_api.settings, hook_api.key)
    with_services(hook_api.settings, rotate)
    (new,) = secrets_of(hook_api.settings, hook_api.key)
    hook_api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()})
    request = receiver.wait_for(1)[0]
    Webhook(new).verify(request["body"], request["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request["body"], request["headers"])


def test_webhook_targets_pass_the_ssrf_guard(make_settings: Callable[..., Settings]) -> None:
    with running_app(make_settings()) as api:
        for url in (
            "http://127.0.0.1:8080/hook",
            "http://169.254.169.254/latest",
            "http://[::1]/x",
            "http://10.0.0.1/",
        ):
            body = assert_problem(
                api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": url}), 422, "url_forbidden"
            )
            assert body["errors"][0]["field"] == "webhook_url"
    with running_app(make_settings(**FAST)) as api:
        # Allowing loopback for tests does not open the metadata address.
        resp = api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": "http://169.254.169.254/x"})
        assert_problem(resp, 422, "url_forbidden")


def test_delivery_rechecks_the_target(make_settings: Callable[..., Settings], receiver: Receiver) -> None:
    """A target allowed at submission but refused at delivery time (settings or DNS changed) is not called."""
    receiver.statuses = [500]
    with running_app(make_settings(**{**FAST, "gateway.webhook_retry_delays_s": [1.0]})) as api:
        task = api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()}).json()
        receiver.wait_for(1)
        key = api.key
    stricter = make_settings(**{**FAST, "gateway.webhook_allow_cidrs": []})
    with running_app(stricter) as api2:
        log = webhook_log(api2.as_key(key), task["id"], lambda items: items and items[0]["status"] == "failed")
    assert "private or reserved" in log[0]["attempts"][-1]["error"]
    assert len(receiver.requests) == 1


def test_pending_deliveries_survive_a_restart(make_settings: Callable[..., Settings], receiver: Receiver) -> None:
    # The retry comes after the first app has stopped (in tens of milliseconds), as in the test above.
    settings = make_settings(**{**FAST, "gateway.webhook_retry_delays_s": [1.0]})
    receiver.statuses = [500]
    with running_app(settings) as api:
        task = api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()}).json()
        receiver.wait_for(1)
        key = api.key
    assert len(receiver.requests) == 1
    with running_app(settings) as api:
        receiver.wait_for(2)
        log = webhook_log(api.as_key(key), task["id"], lambda items: items and items[0]["status"] == "succeeded")
    assert [a["status_code"] for a in log[0]["attempts"]] == [500, 200]


def test_jwt_callers_need_a_configured_secret(make_settings: Callable[..., Settings], receiver: Receiver) -> None:
    headers = {"Authorization": f"Bearer {jwt_token('u')}"}
    with running_app(make_settings(**FAST, **{"auth.jwt_secret": "k" * 32})) as api:
        resp = api.client.post(
            "/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()}, headers=headers
        )
        assert_problem(resp, 422, "webhooks_unavailable")
        assert_problem(api.client.get("/v1/video/webhooks/secret", headers=headers), 422, "webhooks_unavailable")


def jwt_token(sub: str) -> str:
    import jwt

    return jwt.encode({"sub": sub, "exp": int(time.time()) + 60, "scope": "edit read"}, "k" * 32, algorithm="HS256")


def test_each_jwt_subject_signs_with_its_own_secret(make_settings: Callable[..., Settings], receiver: Receiver) -> None:
    master = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    settings = make_settings(**FAST, **{"auth.jwt_secret": "k" * 32, "gateway.webhook_secret": master})
    alice, bob = ({"Authorization": f"Bearer {jwt_token(sub)}"} for sub in ("alice", "bob"))
    with running_app(settings) as api:
        (alice_secret,) = api.client.get("/v1/video/webhooks/secret", headers=alice).json()["secrets"]
        (bob_secret,) = api.client.get("/v1/video/webhooks/secret", headers=bob).json()["secrets"]
        assert len({alice_secret, bob_secret, master}) == 3 and alice_secret.startswith("whsec_")
        # Stable: the same subject is told the same secret by every process, every time.
        assert api.client.get("/v1/video/webhooks/secret", headers=alice).json()["secrets"] == [alice_secret]
        # An API key is told its own key's secrets.
        assert api.get("/v1/video/webhooks/secret").json()["secrets"] == secrets_of(settings, api.key)
        resp = api.client.post(
            "/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()}, headers=alice
        )
        assert resp.status_code == 202
        request = receiver.wait_for(1)[0]
        assert Webhook(alice_secret).verify(request["body"], request["headers"])["data"]["id"] == resp.json()["id"]
        for other in (bob_secret, master):
            with pytest.raises(WebhookVerificationError):
                Webhook(other).verify(request["body"], request["headers"])


def test_endless_and_dripping_bodies_never_delay_other_owners(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    """One owner's endpoint streams an endless body, another drips a byte every 0.5 s: a third owner's
    delivery still arrives at once, each bad attempt ends by its deadline, and memory stays flat."""
    timeout_s = 2.0  # four drips of the slow endpoint before its deadline
    endless, drip = HostileReceiver("endless"), HostileReceiver("drip")
    settings = make_settings(**{**FAST, "gateway.webhook_timeout_s": timeout_s})
    tracemalloc.start()
    try:
        with running_app(settings) as api:
            owners = [api.as_key(make_key(settings, name)) for name in ("endless", "drip", "fine")]
            tracemalloc.reset_peak()
            baseline = tracemalloc.get_traced_memory()[0]
            slow = [
                owner.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": target.url()}).json()
                for owner, target in zip(owners, (endless, drip), strict=False)
            ]
            wait_until(lambda: endless.requests and drip.requests, what="both bad endpoints called")
            asked = time.monotonic()
            fine = owners[2].post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()}).json()
            receiver.wait_for(1, timeout_s=timeout_s / 2)
            assert time.monotonic() - asked < timeout_s / 2
            assert webhook_log(owners[2], fine["id"], lambda i: i and i[0]["status"] == "succeeded")
            # The endless body is dropped after 64 KiB: the 200 counts, long before the deadline.
            (endless_log,) = webhook_log(owners[0], slow[0]["id"], lambda i: i and i[0]["attempts"])
            assert endless_log["status"] == "succeeded"
            assert endless_log["attempts"][0]["latency_ms"] < timeout_s * 1000
            # The drip is cut at the deadline of the whole attempt, not of each read.
            (drip_log,) = webhook_log(owners[1], slow[1]["id"], lambda i: i and i[0]["attempts"])
            first = drip_log["attempts"][0]
            assert first["status_code"] is None and "timed out" in first["error"]
            assert timeout_s * 1000 * 0.9 < first["latency_ms"] < timeout_s * 1000 + 1000
            peak_growth = tracemalloc.get_traced_memory()[1] - baseline
            assert peak_growth < 16 * 1024 * 1024, f"peak memory grew by {peak_growth / 2**20:.1f} MiB"
    finally:
        tracemalloc.stop()
        endless.close()
        drip.close()


def test_one_owner_holds_at_most_its_share_of_connections(make_settings: Callable[..., Settings]) -> None:
    drip = HostileReceiver("drip")
    settings = make_settings(**{**FAST, "gateway.webhook_timeout_s": 2.0, "gateway.webhook_max_in_flight_per_owner": 1})
    try:
        with running_app(settings) as api:
            for _ in range(3):
                api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": drip.url()})
            wait_until(lambda: drip.requests, what="the first delivery")
            time.sleep(1.0)  # stays: the assert is that no second connection opens during this window
            assert len(drip.requests) == 1
    finally:
        drip.close()


def test_webhook_targets_are_limited_to_ports_80_and_443_unless_configured(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    default_ports = {k: v for k, v in FAST.items() if k != "gateway.webhook_allow_ports"}
    with running_app(make_settings(**default_ports)) as api:
        for url in (receiver.url(), "https://example.com:8443/hook", "http://example.com:22/"):
            body = assert_problem(
                api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": url}), 422, "url_forbidden"
            )
            assert "port" in body["detail"], body
    time.sleep(0.5)  # stays: the assert is that nothing was sent
    assert receiver.requests == []
    with running_app(make_settings(**{**FAST, "gateway.webhook_allow_ports": [receiver.port]})) as api:
        resp = api.post("/v1/video/edit/trim", json={**FAILING_TRIM, "webhook_url": receiver.url()})
        assert resp.status_code == 202, resp.text
        receiver.wait_for(1)
