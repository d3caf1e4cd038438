"""`videoapi storage`: what the store holds, and the retention purge (`videoapi purge` is an alias)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from videoapi.cli.common import echo_json, human_bytes, progress, settings, with_services


@click.group()
def storage() -> None:
    """Stored assets: usage and the retention purge."""


@storage.command("usage")
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True, help="Owners listed (0: all).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def storage_usage(top: int, as_json: bool) -> None:
    """Count and bytes of stored assets by origin, media type and owner; disk use of the local store."""
    from videoapi.assets.admin import asset_usage
    from videoapi.ops.storage import local_usage, store_units

    async def run(services: Any) -> tuple[Any, dict[str, str]]:
        usage = await asset_usage(services.sessions, top)
        return usage, {k.id: k.name for k in await services.keys.list()}

    usage, key_names = with_services(run)
    config = settings()
    local = None
    if config.storage.backend == "local":
        units = store_units(config.storage_dir)
        with progress(len(units), "measuring the store") as bar:
            local = local_usage(config.storage_dir, units, on_unit=lambda: bar.update(1))

    def tally(t: Any) -> dict[str, int]:
        return {"count": t.count, "size_bytes": t.size_bytes}

    if as_json:
        echo_json(
            {
                "assets": tally(usage.total),
                "purged_assets": usage.purged,
                "by_origin": {k: tally(v) for k, v in usage.by_origin.items()},
                "by_media_type": {k: tally(v) for k, v in usage.by_media_type.items()},
                "owners": usage.owners,
                "by_owner": [
                    {"owner_id": owner, "key_name": key_names.get(owner), **tally(t)}
                    for owner, t in usage.by_owner.items()
                ],
                "local_store": None
                if local is None
                else {
                    "root": str(local.root),
                    "objects": local.objects,
                    "size_bytes": local.size_bytes,
                    "disk_total_bytes": local.disk_total_bytes,
                    "disk_free_bytes": local.disk_free_bytes,
                },
            }
        )
        return
    click.echo(
        f"stored assets: {usage.total.count} ({human_bytes(usage.total.size_bytes)}); "
        f"{usage.purged} purged (rows kept, files deleted)"
    )
    for title, groups in (("by origin", usage.by_origin), ("by media type", usage.by_media_type)):
        click.echo(f"{title}:")
        for name, t in groups.items():
            click.echo(f"  {name:<10} {t.count:>8}  {human_bytes(t.size_bytes):>10}")
    shown = f"top {len(usage.by_owner)} of {usage.owners}" if len(usage.by_owner) < usage.owners else "all"
    click.echo(f"by owner ({shown}):")
    for owner, t in usage.by_owner.items():
        click.echo(f"  {owner:<36} {key_names.get(owner, ''):<20} {t.count:>8}  {human_bytes(t.size_bytes):>10}")
    if local is not None:
        free = local.disk_free_bytes / local.disk_total_bytes if local.disk_total_bytes else 0.0
        click.echo(
            f"local store {local.root}: {local.objects} object(s), {human_bytes(local.size_bytes)} on disk; "
            f"{human_bytes(local.disk_free_bytes)} free of {human_bytes(local.disk_total_bytes)} ({free:.0%})"
        )


@storage.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
def storage_purge(dry_run: bool) -> None:
    """Delete inputs and outputs past their retention time (see `retention.*` settings)."""

    async def run(services: Any) -> tuple[list[str], list[str], int, int]:
        now = datetime.now(UTC)
        total = await services.retention.count_expired(now)
        deleted: list[str] = []
        kept: list[str] = []
        freed = 0
        with progress(total, "examining assets" if dry_run else "purging assets") as bar:
            while True:
                report = await services.retention.purge_expired(now, dry_run=dry_run)
                deleted += report.deleted
                kept = report.kept_for_tasks
                freed += report.bytes_freed
                bar.update(len(report.deleted))
                # A run handles at most retention.batch_size assets; go on until one comes back empty.
                if dry_run or not report.deleted:
                    return deleted, kept, freed, total

    deleted, kept, freed, total = with_services(run)
    for asset_id in deleted:
        click.echo(f"{'would delete' if dry_run else 'deleted'} {asset_id}")
    for asset_id in kept:
        click.echo(f"kept {asset_id} (a queued or running task needs it)")
    if dry_run:
        more = total - len(deleted) - len(kept)
        note = f" (the first batch; about {more} more)" if more > 0 else ""
        click.echo(f"{len(deleted)} asset(s) to delete, {human_bytes(freed)}{note}")
    else:
        click.echo(f"{len(deleted)} asset(s) deleted, {human_bytes(freed)} freed")
