from __future__ import annotations

import stat
from pathlib import Path

import msgspec

from videoapi.settings import Settings, StorageSettings
from videoapi.storage.signing import load_signing_secret, sign, verify

KEY = "outputs/task-1/output.mp4"
SECRET = b"s3cret"
NOW = 1_700_000_000
EXP = NOW + 60


def test_signature_verifies_for_the_same_key_and_expiry() -> None:
    sig = sign(KEY, EXP, SECRET)
    assert verify(KEY, EXP, sig, SECRET, NOW)
    assert "=" not in sig and "+" not in sig and "/" not in sig  # URL-safe, unpadded


def test_tampered_key_is_rejected() -> None:
    assert not verify("outputs/task-2/output.mp4", EXP, sign(KEY, EXP, SECRET), SECRET, NOW)


def test_tampered_expiry_is_rejected() -> None:
    assert not verify(KEY, EXP + 3600, sign(KEY, EXP, SECRET), SECRET, NOW)


def test_expired_signature_is_rejected() -> None:
    sig = sign(KEY, EXP, SECRET)
    assert not verify(KEY, EXP, sig, SECRET, EXP)
    assert not verify(KEY, EXP, sig, SECRET, EXP + 1)


def test_wrong_secret_is_rejected() -> None:
    assert not verify(KEY, EXP, sign(KEY, EXP, SECRET), b"other", NOW)


def test_garbage_signature_is_rejected() -> None:
    assert not verify(KEY, EXP, "not-a-signature", SECRET, NOW)


def test_configured_secret_is_used(settings: Settings) -> None:
    settings = msgspec.structs.replace(settings, storage=StorageSettings(signing_secret="configured"))
    assert load_signing_secret(settings) == b"configured"
    assert not (settings.var_path / "signing.key").exists()


def test_generated_secret_is_persisted_private_and_stable(settings: Settings) -> None:
    first = load_signing_secret(settings)
    key_file: Path = settings.var_path / "signing.key"
    assert len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Another process (or a restart) sharing var/ gets the same secret.
    assert load_signing_secret(settings) == first
    assert [p.name for p in settings.var_path.iterdir()] == ["signing.key"]
