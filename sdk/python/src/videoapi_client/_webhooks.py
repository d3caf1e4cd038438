"""Webhook signature verification (Standard Webhooks, as docs/api/webhooks.md describes)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

import msgspec

from videoapi_client._errors import WebhookVerificationError
from videoapi_client.models import TaskOut


class WebhookEvent(msgspec.Struct, kw_only=True):
    """The body of a webhook request: `task.succeeded`, `task.failed` or `task.canceled`."""

    type: str
    timestamp: str
    data: TaskOut


def verify_webhook(
    secrets: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: int = 300,
    now_s: float | None = None,
) -> WebhookEvent:
    """Check a webhook request and return its event; raise `WebhookVerificationError` otherwise.

    `secrets` is the key's `whsec_...` secret (or several, while you rotate). `body` must be the raw
    bytes as received: the signature covers them exactly, so re-encoded JSON does not verify.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, timestamp, signatures = lower["webhook-id"], lower["webhook-timestamp"], lower["webhook-signature"]
        sent_s = int(timestamp)
    except (KeyError, ValueError) as exc:
        raise WebhookVerificationError(f"missing or malformed webhook header: {exc}") from None
    if abs((time.time() if now_s is None else now_s) - sent_s) > tolerance_s:
        raise WebhookVerificationError("timestamp too old or in the future")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for secret in [secrets] if isinstance(secrets, str) else secrets:
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise WebhookVerificationError("a secret is not a whsec_<base64> string") from None
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for signature in signatures.split():
            version, _, value = signature.partition(",")
            if version == "v1" and hmac.compare_digest(value, expected):
                return msgspec.json.decode(body, type=WebhookEvent)
    raise WebhookVerificationError("no valid signature")
