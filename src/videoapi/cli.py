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
        # The gateway reads X-Forwarded-For itself, from server.trusted_proxies only; uvicorn would
        # otherwise believe it from 127.0.0.1 and replace the socket address.
        proxy_headers=False,
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
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["generate", "edit", "read", "admin"]),
    help="Repeat for several (default: generate, edit, read). admin may do everything.",
)
@click.option("--allow-ip", "allow_ips", multiple=True, help="CIDR (IPv4 or IPv6) the key may be used from; repeat.")
@click.option("--rate", "rate_per_s", type=float, default=None, help="Requests per second (default: gateway setting).")
@click.option("--burst", type=int, default=None, help="Requests at once, the bucket size (default: gateway setting).")
@click.option("--max-priority", type=click.Choice(["low", "normal", "high"]), default=None, help="Default: high.")
@click.option("--max-tasks", "max_active_tasks", type=int, default=None, help="Queued + running tasks at once.")
def keys_create(
    name: str,
    scopes: tuple[str, ...],
    allow_ips: tuple[str, ...],
    rate_per_s: float | None,
    burst: int | None,
    max_priority: str | None,
    max_active_tasks: int | None,
) -> None:
    """Create a key; it is printed once and stored hashed. Its webhook signing secret is printed too."""
    from videoapi.errors import AppError

    try:
        key, plaintext = _with_services(
            lambda s: s.keys.create(
                name,
                scopes=scopes or None,
                allow_ips=allow_ips or None,
                rate_per_s=rate_per_s,
                burst=burst,
                max_priority=max_priority,
                max_active_tasks=max_active_tasks,
            )
        )
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"id: {key.id}\nname: {key.name}\nscopes: {' '.join(key.scopes)}", err=True)
    click.echo(f"webhook secret: {key.webhook_secrets[0]['secret']}", err=True)
    click.echo(plaintext)


@keys.command("rotate-webhook-secret")
@click.argument("key_id")
@click.option(
    "--keep-old-hours",
    type=float,
    default=24.0,
    show_default=True,
    help="The current secret keeps signing (next to the new one) this long, so receivers can switch.",
)
def keys_rotate_webhook_secret(key_id: str, keep_old_hours: float) -> None:
    """Give a key (id or prefix) a new webhook signing secret and print it."""
    from videoapi.errors import NotFound

    try:
        key = _with_services(lambda s: s.keys.rotate_webhook_secret(key_id, keep_old_s=keep_old_hours * 3600))
    except NotFound as exc:
        raise click.ClickException(exc.detail) from exc
    for old in key.webhook_secrets[1:]:
        click.echo(f"still signing until {old['expires_at']}: {old['secret'][:12]}…", err=True)
    click.echo(key.webhook_secrets[0]["secret"])


@keys.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    rows = _with_services(lambda s: s.keys.list())
    for key in rows:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(
            f"{key.id}  vk_{key.prefix}_…  {key.name:<20}  {state:<24}  last used {used}  scopes {','.join(key.scopes)}"
        )


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


async def _key_id(services: Any, key_id_or_prefix: str) -> str:
    for key in await services.keys.list():
        if key_id_or_prefix in (key.id, key.prefix):
            return str(key.id)
    raise click.ClickException(f"no API key {key_id_or_prefix}")


@keys.command("quota")
@click.argument("key_id")
@click.option("--monthly", type=float, default=None, help="Credits per calendar month (see config/pricing.toml).")
@click.option("--unlimited", is_flag=True, help="Remove the key's quota.")
def keys_quota(key_id: str, monthly: float | None, unlimited: bool) -> None:
    """Set (or remove) a key's monthly credit quota."""
    if (monthly is None) == (not unlimited):
        raise click.UsageError("give exactly one of --monthly N or --unlimited")
    if monthly is not None and monthly < 0:
        raise click.UsageError("--monthly must not be negative")

    async def run(services: Any) -> str:
        owner = await _key_id(services, key_id)
        await services.billing.set_quota(owner, None if unlimited else monthly)
        return owner

    owner = _with_services(run)
    click.echo(f"{owner}: {'no quota' if unlimited else f'{monthly:g} credits per month'}")


@keys.command("policy")
@click.argument("key_id")
@click.option("--trial/--no-trial", default=None, help="Trial keys get the trial watermark on every output.")
@click.option("--watermark-text", default=None, help="Default visible watermark text (when a request gives none).")
@click.option(
    "--watermark-position",
    default="bottom-right",
    show_default=True,
    type=click.Choice(
        ["top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right"]
    ),
)
@click.option("--watermark-opacity", default=0.6, show_default=True, type=click.FloatRange(0.05, 1.0))
@click.option("--no-watermark", is_flag=True, help="Remove the default watermark.")
@click.option(
    "--rules", "rules_file", type=click.Path(exists=True, dir_okay=False), help="Extra moderation rules (TOML)."
)
@click.option("--no-rules", is_flag=True, help="Remove the key's extra rules.")
@click.option("--output-threshold", type=click.FloatRange(0.0, 1.0), default=None, help="Output-scan threshold.")
@click.option("--default-threshold", is_flag=True, help="Use `moderation.output_threshold` again.")
def keys_policy(
    key_id: str,
    trial: bool | None,
    watermark_text: str | None,
    watermark_position: str,
    watermark_opacity: float,
    no_watermark: bool,
    rules_file: str | None,
    no_rules: bool,
    output_threshold: float | None,
    default_threshold: bool,
) -> None:
    """Show or change a key's policy: trial, default watermark, extra text rules, output threshold."""
    import tomllib

    import msgspec

    from videoapi.editing.watermark import VisibleWatermark, check_watermark
    from videoapi.errors import AppError
    from videoapi.moderation.text import rules_from_dict

    changes: dict[str, Any] = {}
    if trial is not None:
        changes["trial"] = trial
    try:
        if watermark_text is not None:
            wm = VisibleWatermark(text=watermark_text, position=watermark_position, opacity=watermark_opacity)  # type: ignore[arg-type]
            check_watermark(wm)
            changes["watermark"] = msgspec.to_builtins(wm)
        if rules_file is not None:
            with open(rules_file, "rb") as fh:
                rules = tomllib.load(fh)
            rules_from_dict(rules, source=rules_file)  # refuse a broken file now, not at the next request
            changes["moderation_rules"] = rules
    except (AppError, tomllib.TOMLDecodeError) as exc:
        raise click.ClickException(getattr(exc, "detail", str(exc))) from exc
    if no_watermark:
        changes["watermark"] = None
    if no_rules:
        changes["moderation_rules"] = None
    if output_threshold is not None:
        changes["output_threshold"] = output_threshold
    if default_threshold:
        changes["output_threshold"] = None

    async def run(services: Any) -> Any:
        owner = await _key_id(services, key_id)
        return await (services.policies.update(owner, **changes) if changes else services.policies.get(owner))

    policy = _with_services(run)
    click.echo(f"trial: {'yes' if policy.trial else 'no'}")
    click.echo(f"default watermark: {policy.watermark or 'none'}")
    click.echo(f"extra rules: {', '.join((policy.moderation_rules or {}).get('categories', {})) or 'none'}")
    threshold = "default" if policy.output_threshold is None else f"{policy.output_threshold:g}"
    click.echo(f"output threshold: {threshold}")


@main.group()
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
        owner = await _key_id(services, key_id) if key_id else None
        return await services.billing.usage(owner, start)

    report = _with_services(run)
    click.echo(f"{'date':<12} {'kind':<28} {'tasks':>6} {'seconds':>10} {'credits':>10}")
    for row in report["by_day_and_kind"]:
        seconds, credits = row["output_seconds"], row["credits"]
        click.echo(f"{row['date']:<12} {row['kind']:<28} {row['tasks']:>6} {seconds:>10.1f} {credits:>10.2f}")
    click.echo(f"total: {report['total_tasks']} task(s), {report['total_credits']:.2f} credits since {start:%Y-%m-%d}")
    quota = report.get("quota")
    if quota and quota["monthly_credits"] is not None:
        click.echo(f"quota: {quota['monthly_credits']:g} per month, {quota['remaining']:g} left")


@main.group()
def watermark() -> None:
    """Invisible watermark tools."""


@watermark.command("detect")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def watermark_detect(path: str) -> None:
    """Read the invisible watermark of a local video or image file and name the task that made it."""
    from pathlib import Path

    from videoapi.provenance.service import detect_path, task_for_token

    found = detect_path(_settings(), Path(path))
    if not found.found or found.token is None:
        click.echo(f"no watermark found ({found.frames} frame(s) read)")
        raise SystemExit(1)
    token = found.token
    task_id = _with_services(lambda s: task_for_token(s, token, None))
    click.echo(f"watermark found: token {token}, task {task_id or 'unknown on this server'}")
    click.echo(f"frames read: {found.frames}, agreement: {found.agreement:.3f}")


@main.group()
def models() -> None:
    """Generation models: which are installed, and fetching their weights."""


@models.command("list")
def models_list() -> None:
    """Each model of the registry, the kinds it serves, and whether its weights are present."""
    from videoapi.generation.service import list_models

    listing = list_models(_settings())
    for m in listing.items:
        default = f"  (default {', '.join(m.default_for)})" if m.default_for else ""
        click.echo(f"{m.name:<24} {m.status:<12} {','.join(m.kinds):<28} {m.source}{default}")
        if m.install_hint:
            click.echo(f"{'':<24} install: {m.install_hint}")
    click.echo(f"classical styles (CPU, no model): {', '.join(listing.classical_styles)}")


@models.command("download")
@click.argument("name")
def models_download(name: str) -> None:
    """Fetch NAME's weights from the Hugging Face Hub into generation.models_dir (needs a network)."""
    from videoapi.generation.weights import DownloadError, download_model

    try:
        path = download_model(_settings(), name, echo=lambda line: click.echo(line, err=True))
    except DownloadError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(str(path))


if __name__ == "__main__":
    sys.exit(main())
