"""Stream tokens: short-lived, HMAC-signed stand-ins for the caller's credentials on the event streams.

A browser's EventSource cannot send an Authorization header, and an API key must never sit in a
URL (logs, history, Referer). `POST /v1/video/events/token` (authenticated by the header) returns a
token that names the owner, the key and its scopes and expires after `events.token_ttl_s`; the event
routes, and only they, accept it as `?token=`.

Format: `base64url(JSON claims) "." base64url(HMAC-SHA256(secret, "videoapi-stream-token." + claims part))`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import msgspec

from videoapi.auth.principal import Principal
from videoapi.errors import Unauthorized

_LABEL = b"videoapi-stream-token."


class _Claims(msgspec.Struct, frozen=True):
    o: str
    """Owner id."""
    n: str
    """Key name."""
    k: str | None
    """Key id (None: a JWT subject)."""
    s: list[str]
    """Scopes."""
    e: int
    """Expiry, Unix seconds."""


def derive_secret(configured: str, signing_secret: bytes) -> bytes:
    """`events.token_secret`, or a key derived from the storage signing secret (never that secret itself)."""
    if configured:
        return configured.encode()
    return hmac.new(signing_secret, b"videoapi events token key", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StreamTokens:
    def __init__(self, secret: bytes, ttl_s: float) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self._decode = msgspec.json.Decoder(_Claims)

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, _LABEL + body.encode(), hashlib.sha256).digest())

    def issue(self, principal: Principal, now: float | None = None) -> tuple[str, int]:
        """A token for the principal and its expiry (Unix seconds)."""
        expires = int((time.time() if now is None else now) + self.ttl_s)
        claims = _Claims(
            principal.owner_id,
            principal.key_name,
            principal.key_id,
            sorted(principal.scopes),
            expires,
        )
        body = _b64(msgspec.json.encode(claims))
        return f"{body}.{self._mac(body)}", expires

    def verify(self, token: str, now: float | None = None) -> Principal:
        """The principal the token was issued to; 401 when it is malformed, tampered with or expired.

        For a key, the caller re-reads the key (revoked since? allowlist, rate): see gateway.deps.
        """
        body, _, mac = token.partition(".")
        if not body or not mac or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            raise Unauthorized("the stream token is malformed or its signature is wrong", code="invalid_stream_token")
        try:
            claims = self._decode.decode(_unb64(body))
        except (ValueError, msgspec.DecodeError) as exc:
            raise Unauthorized("the stream token is malformed", code="invalid_stream_token") from exc
        if claims.e <= (time.time() if now is None else now):
            raise Unauthorized(
                "the stream token has expired; get a new one from POST /v1/video/events/token",
                code="stream_token_expired",
            )
        return Principal(
            owner_id=claims.o,
            key_name=claims.n,
            key_id=claims.k,
            scopes=frozenset(claims.s),
        )
