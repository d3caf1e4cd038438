"""`videoapi destinations`: operator tasks on the callers' saved buckets (re-encrypting their credentials)."""

from __future__ import annotations

from typing import Any

import click

from videoapi.cli.common import with_services


@click.group()
def destinations() -> None:
    """Callers' destinations (S3-compatible buckets that outputs are copied to)."""


@destinations.command("rekey")
def destinations_rekey() -> None:
    """Re-encrypt every destination's credentials with destinations.encryption_key.

    Run it after moving the old key to destinations.previous_encryption_keys and setting a new one, on
    any one machine; once it reports nothing left under an old key, remove the old key everywhere.
    """

    async def run(services: Any) -> Any:
        return await services.destinations.rekey()

    report = with_services(run)
    click.echo(f"resealed {report.resealed}, already under the current key {report.current}")
    if report.unreadable:
        click.echo(
            f"{len(report.unreadable)} destination(s) no configured key opens; their owners must save the "
            "credentials again (PATCH /v1/video/destinations/{id}): " + ", ".join(report.unreadable),
            err=True,
        )
        raise SystemExit(1)
