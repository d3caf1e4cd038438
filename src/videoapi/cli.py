"""`videoapi`: serve the API, run workers, migrate the database, manage keys and tasks."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from videoapi.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _with_services(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(services)` with services that publish through the configured broker, then close them."""
    from videoapi.queue.broker import make_broker
    from videoapi.services import build_services

    settings = _settings()
    broker = make_broker(settings) if settings.queue.broker != "stub" else None

    async def main() -> T:
        services = await build_services(settings, broker)
        try:
            return await fn(services)
        finally:
            await services.close()

    try:
        return asyncio.run(main())
    finally:
        if broker is not None:
            broker.close()


@click.group()
def main() -> None:
    """videoapi: self-hosted video generation and editing API."""


@main.command()
@click.option("--host", default=None, help="Bind address (default: server.host).")
@click.option("--port", type=int, default=None, help="Port (default: server.port).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the HTTP API (with embedded workers unless server.embedded_workers is false)."""
    import uvicorn

    from videoapi.app import create_app

    settings = _settings()
    _print_dev_key_once(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.server.host,
        port=port or settings.server.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )


def _print_dev_key_once(settings: Settings) -> None:
    if settings.server.environment != "development":
        return

    async def ensure(services: Any) -> str | None:
        if await services.keys.count_active():
            return None
        _, plaintext = await services.keys.create("development")
        return plaintext

    from videoapi.services import build_services

    async def run() -> str | None:
        services = await build_services(settings, None)
        try:
            return await ensure(services)
        finally:
            await services.close()

    plaintext = asyncio.run(run())
    if plaintext:
        click.echo(
            "\nCreated a development API key (shown once, stored hashed):\n\n"
            f"    {plaintext}\n\n"
            f"Try: curl -H 'Authorization: Bearer {plaintext}' {settings.server.public_url}/v1/video/tasks\n",
            err=True,
        )


@main.command()
@click.option("--queues", default="cpu", show_default=True, help="Comma-separated queues to drain: cpu, gpu.")
@click.option("--threads", type=int, default=None, help="Worker threads (default: server.worker_threads).")
@click.option("--metrics-port", type=int, default=None, help="Serve this worker's Prometheus metrics on this port.")
def worker(queues: str, threads: int | None, metrics_port: int | None) -> None:
    """Run a worker process that drains the given queues."""
    import dramatiq
    from prometheus_client import start_http_server

    from videoapi.observability.logging import configure_logging
    from videoapi.observability.metrics import REGISTRY
    from videoapi.queue.broker import QUEUES, make_broker, queue_name
    from videoapi.queue.runtime import WorkerLifecycle

    settings = _settings()
    if settings.queue.broker == "stub":
        raise click.ClickException("queue.broker is 'stub' (in-process): set redis or rabbitmq to run separate workers")
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    if unknown := set(wanted) - set(QUEUES):
        raise click.ClickException(f"unknown queue(s) {sorted(unknown)}; known: {list(QUEUES)}")
    configure_logging(settings)
    if metrics_port:
        start_http_server(metrics_port, addr=settings.server.host, registry=REGISTRY)
    broker = make_broker(settings, extra_middleware=[WorkerLifecycle(settings)])
    names = {queue_name(settings, q) for q in wanted}
    worker = dramatiq.Worker(broker, queues=names, worker_threads=threads or settings.server.worker_threads)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    click.echo(f"worker draining {', '.join(wanted)}", err=True)
    stop.wait()
    worker.stop()
    broker.close()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from videoapi.db.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database at {revision}", err=True)


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--name", required=True, help="Who the key is for.")
def keys_create(name: str) -> None:
    """Create a key; it is printed once and stored hashed."""
    key, plaintext = _with_services(lambda s: s.keys.create(name))
    click.echo(f"id: {key.id}\nname: {key.name}", err=True)
    click.echo(plaintext)


@keys.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    rows = _with_services(lambda s: s.keys.list())
    for key in rows:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(f"{key.id}  vk_{key.prefix}_…  {key.name:<20}  {state:<24}  last used {used}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id or prefix; it stops working at once."""
    from videoapi.errors import NotFound

    try:
        key = _with_services(lambda s: s.keys.revoke(key_id))
    except NotFound as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"revoked {key.id} ({key.name})")


@main.group()
def tasks() -> None:
    """Tasks: list, requeue, cancel."""


@tasks.command("list")
@click.option("--status", default=None)
@click.option("--kind", default=None)
@click.option("--limit", type=int, default=50, show_default=True)
def tasks_list(status: str | None, kind: str | None, limit: int) -> None:
    """List tasks of every owner, newest first."""
    rows, _ = _with_services(lambda s: s.tasks.list(owner_id=None, status=status, kind=kind, limit=limit))
    for t in rows:
        err = f"  {t.error_code}: {t.error_message}" if t.error_code else ""
        click.echo(f"{t.id}  {t.kind:<16} {t.status:<10} {t.progress:>5.0%}  {t.created_at:%Y-%m-%d %H:%M:%S}{err}")


@tasks.command("requeue")
@click.argument("task_id", required=False)
@click.option("--failed", is_flag=True, help="Requeue every failed task (see --since).")
@click.option("--since", "since_h", type=float, default=24.0, show_default=True, help="With --failed: hours back.")
def tasks_requeue(task_id: str | None, failed: bool, since_h: float) -> None:
    """Run a failed or canceled task again (TASK_ID), or all failed ones (--failed)."""
    from videoapi.errors import AppError

    if bool(task_id) == failed:
        raise click.UsageError("give a TASK_ID or --failed")

    async def run(services: Any) -> list[str]:
        if task_id:
            return [(await services.tasks.requeue(task_id)).id]
        since = datetime.now(UTC) - timedelta(hours=since_h)
        done, cursor = [], None
        while True:
            rows, cursor = await services.tasks.list(
                owner_id=None, status="failed", since=since, cursor=cursor, limit=100
            )
            for row in rows:
                done.append((await services.tasks.requeue(row.id)).id)
            if cursor is None:
                return done

    try:
        ids = _with_services(run)
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"requeued {len(ids)} task(s)")
    for tid in ids:
        click.echo(tid)


@tasks.command("cancel")
@click.argument("task_id")
def tasks_cancel(task_id: str) -> None:
    """Cancel a queued or running task."""
    from videoapi.errors import AppError

    try:
        task = _with_services(lambda s: s.tasks.cancel(task_id, None))
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"{task.id}: {task.status}{' (cancel requested)' if task.cancel_requested else ''}")


@main.command()
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
def purge(dry_run: bool) -> None:
    """Delete inputs and outputs past their retention time (see `retention.*` settings)."""
    from videoapi.assets.retention import purge_expired

    total = 0
    while True:
        report = _with_services(lambda s: purge_expired(s, datetime.now(UTC), dry_run=dry_run))
        for asset_id in report.deleted:
            click.echo(f"{'would delete' if dry_run else 'deleted'} {asset_id}")
        for asset_id in report.kept_for_tasks:
            click.echo(f"kept {asset_id} (a queued or running task needs it)")
        total += len(report.deleted)
        # A run deletes at most retention.batch_size assets; go on until a batch comes back short.
        if dry_run or not report.deleted:
            break
    click.echo(f"{total} asset(s) {'to delete' if dry_run else 'deleted'}")


if __name__ == "__main__":
    sys.exit(main())
