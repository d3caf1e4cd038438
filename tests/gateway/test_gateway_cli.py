"""`videoapi keys create` with scopes and limits, and `keys rotate-webhook-secret`; the 0003 migration of old keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from tests.support.app import with_services
from videoapi.db.migrate import upgrade
from videoapi.settings import Settings


def test_keys_create_with_scopes_and_limits(cli: Callable[..., str], make_settings: Callable[..., Settings]) -> None:
    cli("db", "upgrade")
    out = cli(
        "keys", "create", "--name", "partner", "--scope", "read", "--scope", "edit",
        "--allow-ip", "10.0.0.0/8", "--allow-ip", "2001:db8::/32",
        "--rate", "2.5", "--burst", "7", "--max-priority", "normal", "--max-tasks", "3",
    )  # fmt: skip
    plaintext = out.strip().splitlines()[-1]
    assert "webhook secret: whsec_" in out

    async def read(services):  # type: ignore[no-untyped-def]
        return await services.keys.authenticate(plaintext)

    key = with_services(make_settings(), read)
    assert key.scopes == ["read", "edit"]
    assert key.allow_ips == ["10.0.0.0/8", "2001:db8::/32"]
    assert (key.rate_per_s, key.burst, key.max_priority, key.max_active_tasks) == (2.5, 7, "normal", 3)
    assert "not an IPv4 or IPv6 network" in cli("keys", "create", "--name", "x", "--allow-ip", "nope", ok=False)
    assert "Invalid value" in cli("keys", "create", "--name", "x", "--scope", "root", ok=False)

    rotated = cli("keys", "rotate-webhook-secret", key.prefix)
    new_secret = rotated.strip().splitlines()[-1]
    assert new_secret.startswith("whsec_") and "still signing until" in rotated
    assert new_secret not in out
    assert "no API key" in cli("keys", "rotate-webhook-secret", "nope", ok=False)


def test_migration_gives_existing_keys_scopes_and_a_secret(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    engine = sa.create_engine(url.replace("+aiosqlite", ""))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_keys (id, name, prefix, key_hash, created_at) "
                "VALUES ('k1', 'old', 'abcdefabcdef', 'h', '2026-01-01 00:00:00')"
            )
        )
    upgrade(url)
    with engine.begin() as conn:
        scopes, secrets = conn.execute(sa.text("SELECT scopes, webhook_secrets FROM api_keys")).one()
    engine.dispose()
    assert '"generate"' in scopes and '"read"' in scopes and '"admin"' not in scopes
    assert "whsec_" in secrets
