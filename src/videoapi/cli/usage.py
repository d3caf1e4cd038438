"""`videoapi usage`: charges by day and kind, from the usage ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from videoapi.cli.common import resolve_key_id, with_services


@click.group()
def usage() -> None:
    """Usage and charges."""


@usage.command("report")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Default: this month.")
@click.option("--key", "key_id", default=None, help="One key (id or prefix); default: all keys.")
def usage_report(since: datetime | None, key_id: str | None) -> None:
    """Charges by day and kind."""
    from videoapi.billing.service import month_start

    start = since.replace(tzinfo=UTC) if since else month_start(datetime.now(UTC))

    async def run(services: Any) -> dict[str, Any]:
        owner = await resolve_key_id(services, key_id) if key_id else None
        return await services.billing.usage(owner, start)

    report = with_services(run)
    click.echo(f"{'date':<12} {'kind':<28} {'tasks':>6} {'seconds':>10} {'credits':>10}")
    for row in report["by_day_and_kind"]:
        seconds, credits = row["output_seconds"], row["credits"]
        click.echo(f"{row['date']:<12} {row['kind']:<28} {row['tasks']:>6} {seconds:>10.1f} {credits:>10.2f}")
    click.echo(f"total: {report['total_tasks']} task(s), {report['total_credits']:.2f} credits since {start:%Y-%m-%d}")
    quota = report.get("quota")
    if quota and quota["monthly_credits"] is not None:
        click.echo(f"quota: {quota['monthly_credits']:g} per month, {quota['remaining']:g} left")
    storage = report.get("storage")
    if storage:
        limit = "no quota" if storage["quota_bytes"] is None else f"quota {storage['quota_bytes']} bytes"
        click.echo(f"storage: {storage['used_bytes']} bytes stored, {limit}")
