"""`verify_webhook` against the server's own signing code (gateway/webhooks.py), rotation included."""

from __future__ import annotations

import base64
import json
import time

import pytest
from videoapi_client import WebhookVerificationError, verify_webhook

from videoapi.gateway.webhooks import signature_header

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
TASK = {
    "id": "t1", "kind": "edit.trim", "status": "succeeded", "progress": 1.0, "priority": "normal", "attempts": 1,
    "created_at": "2026-12-03T10:00:00Z", "started_at": None, "finished_at": None, "params": {}, "result": None,
    "error": None, "cost": 0.5, "webhook_url": "https://example.com/hook", "cancel_requested": False,
}  # fmt: skip


def signed(secrets: list[str], at_s: int, body: bytes) -> dict[str, str]:
    return {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(at_s),
        "Webhook-Signature": signature_header(secrets, "msg_1", at_s, body),
    }


def test_a_request_signed_during_a_rotation_verifies_with_either_secret() -> None:
    body = json.dumps({"type": "task.succeeded", "timestamp": "2026-12-03T10:00:01Z", "data": TASK}).encode()
    headers = signed([NEW, OLD], int(time.time()), body)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    for secret in (OLD, NEW, [other, NEW]):
        event = verify_webhook(secret, headers, body)
        assert event.type == "task.succeeded" and event.data.id == "t1" and event.data.cost == 0.5


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("body", "no valid signature"),
        ("secret", "no valid signature"),
        ("old", "too old"),
        ("future", "in the future"),
        ("header", "missing"),
    ],
)
def test_a_tampered_stale_or_unsigned_request_is_refused(change: str, reason: str) -> None:
    body = json.dumps({"type": "task.failed", "timestamp": "2026-12-03T10:00:01Z", "data": TASK}).encode()
    now = int(time.time())
    at_s = {"old": now - 301, "future": now + 301}.get(change, now)
    headers = signed([NEW], at_s, body)
    secret = OLD if change == "secret" else NEW
    if change == "body":
        body = body.replace(b"task.failed", b"task.succeeded")
    if change == "header":
        del headers["Webhook-Signature"]
    with pytest.raises(WebhookVerificationError, match=reason):
        verify_webhook(secret, headers, body)
