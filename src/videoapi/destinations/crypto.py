"""Encryption at rest of destination credentials: Fernet (AES-128-CBC + HMAC-SHA256) under a key from settings."""

from __future__ import annotations

import base64
import hashlib

import msgspec
from cryptography.fernet import Fernet, InvalidToken

from videoapi.errors import ServiceUnavailable


class Credentials(msgspec.Struct, frozen=True):
    access_key: str
    secret_key: str


class CredentialBox:
    """Seals and opens credentials; any configured string is stretched to a Fernet key with SHA-256."""

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        # A domain prefix keeps this key distinct from any other use of the same secret.
        digest = hashlib.sha256(b"videoapi-destinations\0" + raw).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, credentials: Credentials) -> str:
        return self._fernet.encrypt(msgspec.json.encode(credentials)).decode("ascii")

    def open(self, token: str) -> Credentials:
        try:
            return msgspec.json.decode(self._fernet.decrypt(token.encode("ascii")), type=Credentials)
        except InvalidToken:
            # The key changed since the destination was saved: its credentials are lost, not readable.
            raise ServiceUnavailable(
                "the destination's credentials cannot be decrypted with the current destinations.encryption_key",
                code="destination_credentials_unreadable",
            ) from None


def mask(access_key: str) -> str:
    """`****` and the last 4 characters (all masked when the key is that short)."""
    return "****" + (access_key[-4:] if len(access_key) > 8 else "")
