"""Encryption at rest of destination credentials: Fernet (AES-128-CBC + HMAC-SHA256) under a key from settings."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

import msgspec
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from videoapi.errors import ServiceUnavailable


class Credentials(msgspec.Struct, frozen=True):
    access_key: str
    secret_key: str


def _fernet(secret: str | bytes) -> Fernet:
    """Any configured string, stretched to a Fernet key with SHA-256."""
    raw = secret.encode() if isinstance(secret, str) else secret
    # A domain prefix keeps this key distinct from any other use of the same secret.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"videoapi-destinations\0" + raw).digest()))


class CredentialBox:
    """Seals credentials with the current key; opens them with it or with a previous one (key rotation)."""

    def __init__(self, secret: str | bytes, previous: Sequence[str | bytes] = ()) -> None:
        self._current = _fernet(secret)
        self._any = MultiFernet([self._current, *(_fernet(old) for old in previous)])

    def seal(self, credentials: Credentials) -> str:
        return self._current.encrypt(msgspec.json.encode(credentials)).decode("ascii")

    def open(self, token: str) -> Credentials:
        try:
            return msgspec.json.decode(self._any.decrypt(token.encode("ascii")), type=Credentials)
        except InvalidToken:
            raise _unreadable() from None

    def is_current(self, token: str) -> bool:
        """Whether the current key sealed `token` (else a previous key did, or none we know)."""
        try:
            self._current.decrypt(token.encode("ascii"))
        except InvalidToken:
            return False
        return True

    def reseal(self, token: str) -> str:
        """The same credentials sealed with the current key; 503 when no known key opens them."""
        try:
            return self._any.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise _unreadable() from None


def _unreadable() -> ServiceUnavailable:
    # The key changed since the destination was saved, and the old one is not among the previous keys:
    # its credentials are lost, not readable.
    return ServiceUnavailable(
        "the destination's credentials cannot be decrypted with destinations.encryption_key or any of "
        "destinations.previous_encryption_keys",
        code="destination_credentials_unreadable",
    )


def mask(access_key: str) -> str:
    """`****` and the last 4 characters (all masked when the key is that short)."""
    return "****" + (access_key[-4:] if len(access_key) > 8 else "")
