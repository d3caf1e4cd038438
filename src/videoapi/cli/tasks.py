"""`videoapi tasks`: list and show tasks of every owner, requeue, cancel, and purge old finished ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click

from videoapi.cli.common import Duration, Since, echo_json, human_bytes, progress, with_services
from videoapi.queue.names import QUEUES
from videoapi.tasks.states import Status

STATUSES = [s.value for s in Status]


@click.group()
def tasks() -> None:
    """Tasks: list, show, requeue, cancel, purge."""


@tasks.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--kind", default=None, help="e.g. edit.trim, generate.text-to-video.")
@click.option("--owner", default=None, help="Owner id (an API key's id or prefix, or a JWT subject).")
@click.option("--queue", type=click.Choice(list(QUEUES)), default=None)
@click.option(
    "--since", type=Since(), default=None, help="Created since: ISO time (2026-01-31) or back from now (24h, 7d)."
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON list with every column.")
def tasks_list(
    status: str | None,
    kind: str | None,
    owner: str | None,
    queue: str | None,
    since: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """List tasks of every owner, newest first."""
    from videoapi.ops.tasks import TaskFilter, list_tasks, task_record

    async def run(services: Any) -> list[Any]:
        owner_id = owner
        if owner:
            # A key prefix is what `keys list` shows; the tasks are owned by the key's id.
            owner_id = next((str(k.id) for k in await services.keys.list() if owner == k.prefix), owner)
        where = TaskFilter(status=status, kind=kind, owner_id=owner_id, queue=queue, since=since)
        return await list_tasks(services.sessions, where, limit)

    rows = with_services(run)
    if as_json:
        echo_json([task_record(t) for t in rows])
        return
    for t in rows:
        err = f"  {t.error_code}: {t.error_message}" if t.error_code else ""
        click.echo(f"{t.id}  {t.kind:<16} {t.status:<10} {t.progress:>5.0%}  {t.created_at:%Y-%m-%d %H:%M:%S}{err}")


@tasks.command("show")
@click.argument("task_id")
def tasks_show(task_id: str) -> None:
    """One task as JSON: params, result, error, attempts, lease, times, and the outputs it produced."""
    from videoapi.ops.tasks import task_outputs, task_record

    async def run(services: Any) -> dict[str, Any]:
        task = await services.tasks.get(task_id, None)
        record = task_record(task)
        record["outputs"] = [
            {
                "asset_id": a.id,
                "content_type": a.content_type,
                "size_bytes": a.size_bytes,
                "storage_key": a.storage_key,
                "created_at": a.created_at,
                "deleted_at": a.deleted_at,
            }
            for a in await task_outputs(services.sessions, task.id)
        ]
        return record

    echo_json(with_services(run))


@tasks.command("requeue")
@click.argument("task_id", required=False)
@click.option("--failed", is_flag=True, help="Requeue every failed task (see --since).")
@click.option(
    "--since",
    type=Since(bare_unit="h"),
    default="24h",
    show_default=True,
    help="With --failed: created since this ISO time or this long ago (24h, 7d; a bare number is hours).",
)
def tasks_requeue(task_id: str | None, failed: bool, since: datetime) -> None:
    """Run a failed or canceled task again (TASK_ID), or all failed ones (--failed)."""
    from videoapi.ops.tasks import TaskFilter, count_tasks

    if bool(task_id) == failed:
        raise click.UsageError("give a TASK_ID or --failed")

    async def run(services: Any) -> list[str]:
        if task_id:
            return [(await services.tasks.requeue(task_id)).id]
        total = await count_tasks(services.sessions, TaskFilter(status=Status.FAILED, since=since))
        done: list[str] = []
        cursor = None
        with progress(total, "requeueing") as bar:
            while True:
                rows, cursor = await services.tasks.list(
                    owner_id=None, status=Status.FAILED, since=since, cursor=cursor, limit=100
                )
                for row in rows:
                    done.append((await services.tasks.requeue(row.id)).id)
                    bar.update(1)
                if cursor is None:
                    return done

    ids = with_services(run)
    click.echo(f"requeued {len(ids)} task(s)")
    for tid in ids:
        click.echo(tid)


@tasks.command("cancel")
@click.argument("task_id")
def tasks_cancel(task_id: str) -> None:
    """Cancel a queued or running task."""
    task = with_services(lambda s: s.tasks.cancel(task_id, None))
    click.echo(f"{task.id}: {task.status}{' (cancel requested)' if task.cancel_requested else ''}")


@tasks.command("purge")
@click.option(
    "--older-than",
    type=Duration(),
    required=True,
    help="Delete tasks that finished at least this long ago: 30d, 12h, 2w.",
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
def tasks_purge(older_than: timedelta, dry_run: bool) -> None:
    """Delete succeeded, failed and canceled tasks with the outputs they produced (rows and files).

    Usage records stay (they are the billing history). A task is kept while a queued or running
    task uses one of its outputs, or while its webhook is still being delivered.
    """
    from videoapi.ops.tasks import count_purgeable, purge_finished_tasks

    cutoff = datetime.now(UTC) - older_than

    async def run(services: Any) -> Any:
        total = await count_purgeable(services.sessions, cutoff)
        with progress(total, "examining tasks" if dry_run else "purging tasks") as bar:
            return await purge_finished_tasks(
                services.sessions, services.store, cutoff, dry_run=dry_run, on_progress=bar.update
            )

    report = with_services(run)
    verb = "would delete" if dry_run else "deleted"
    for t in report.purged:
        click.echo(
            f"{verb} {t.id}  {t.kind:<16} {t.status:<10} finished {t.finished_at:%Y-%m-%d %H:%M}  "
            f"{t.assets} output(s), {human_bytes(t.size_bytes)}"
        )
    for tid, why in report.kept.items():
        click.echo(f"kept {tid} ({why})")
    for key, error in report.object_errors:
        click.echo(f"could not delete stored object {key}: {error}", err=True)
    click.echo(
        f"{len(report.purged)} task(s) {'to delete' if dry_run else 'deleted'} with {report.assets} output asset(s), "
        f"{human_bytes(report.size_bytes)} {'to free' if dry_run else 'freed'}"
    )
    if report.object_errors:
        raise click.ClickException(f"{len(report.object_errors)} stored object(s) could not be deleted (listed above)")
