"""HMAC signatures for the local store's download URLs, and the secret they use."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from videoapi.settings import Settings

SIGNING_KEY_FILE = "signing.key"


def sign(key: str, expires_at: int, secret: bytes, filename: str | None = None) -> str:
    """URL-safe base64 (unpadded) HMAC-SHA256 of the object key, its expiry (unix seconds) and the
    attachment filename (`dl`) when there is one, so that nobody can rename a download."""
    # Keys never contain a newline (validate_key) and the expiry is digits, so "key\nexp" and
    # "key\nexp\nfilename" cannot be forged from another key, expiry or filename, nor from each other.
    message = f"{key}\n{expires_at}" + (f"\n{filename}" if filename is not None else "")
    message_bytes = message.encode()
    digest = hmac.new(secret, message_bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(key: str, expires_at: int, sig: str, secret: bytes, now: float, filename: str | None = None) -> bool:
    """True when `sig` signs `key`, `expires_at` and `filename`, and `expires_at` has not passed at `now`."""
    if expires_at <= now:
        return False
    return hmac.compare_digest(sign(key, expires_at, secret, filename), sig)


def load_signing_secret(settings: Settings) -> bytes:
    """The configured secret, else the one kept in `<var_dir>/signing.key`, created on first use.

    Every process sharing var/ reads the same file, so URLs signed by one verify in all, and across
    restarts.
    """
    if settings.storage.signing_secret:
        return settings.storage.signing_secret.encode()
    path = settings.var_path / SIGNING_KEY_FILE
    if not path.exists():
        _create_key_file(path)
    secret = path.read_bytes().strip()
    if not secret:
        raise RuntimeError(f"{path} is empty; delete it to have a new signing secret generated")
    return secret


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
        # link() fails if the file exists, so when processes race exactly one key wins and nobody
        # ever reads a half-written file.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


STREAM_ROUTE = "/v1/video/streams"
"""Where a folder of HLS playlists and segments is served under one signed prefix (`storage.api`)."""


def stream_url(public_url: str, key: str, expires_at: int, secret: bytes) -> str:
    """A URL of `key` (a playlist) that signs its folder rather than the file: the signature sits in the
    path, so that the playlists' relative references (renditions, segments) resolve to signed URLs too.

    The prefix signed ends with `/`, which no object key does (`validate_key`): a folder signature
    never opens a file URL, nor a file signature a folder.
    """
    prefix = key.rsplit("/", 1)[0] + "/"
    return f"{public_url.rstrip('/')}{STREAM_ROUTE}/{expires_at}/{sign(prefix, expires_at, secret)}/{key}"
