"""`videoapi serve`, `videoapi worker` and `videoapi db`: the long-running processes and the schema."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from msgspec import structs

from videoapi.cli.common import refuse_unsafe_production
from videoapi.cli.common import settings as load_cli_settings
from videoapi.settings import Settings


@click.command()
@click.option("--host", default=None, help="Bind address (default: server.host).")
@click.option("--port", type=int, default=None, help="Port (default: server.port).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the HTTP API (with embedded workers unless server.embedded_workers is false)."""
    import uvicorn

    from videoapi.app import create_app

    settings = load_cli_settings()
    refuse_unsafe_production(settings)
    # --host/--port are the bound address everywhere, so derived download URLs name them too.
    bound = structs.replace(settings.server, host=host or settings.server.host, port=port or settings.server.port)
    settings = structs.replace(settings, server=bound)
    _ready_database(settings)
    _print_dev_key_once(settings, bound.host)
    uvicorn.run(
        create_app(settings),
        host=bound.host,
        port=bound.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        # The gateway reads X-Forwarded-For itself, from server.trusted_proxies only; uvicorn would
        # otherwise believe it from 127.0.0.1 and replace the socket address.
        proxy_headers=False,
    )


def _ready_database(settings: Settings) -> None:
    """Migrate the embedded SQLite (one machine, nobody else to run it); any other database must already
    be at head, else one line says what to run, instead of a failed start."""
    from videoapi.db.migrate import upgrade
    from videoapi.ops.doctor import check_database

    if settings.database_url.startswith("sqlite"):
        with _alembic_errors():
            upgrade(settings.database_url)
        return
    failed = [check for check in check_database(settings) if check.status == "fail"]
    if failed:
        raise click.ClickException(f"{failed[0].detail}: {failed[0].fix}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _print_dev_key_once(settings: Settings, host: str) -> None:
    # A key printed to a console is only safe where nobody else can reach the server.
    if settings.server.environment != "development" or not _is_loopback(host):
        return

    async def ensure(services: Any) -> str | None:
        if await services.keys.count_active():
            return None
        _, plaintext = await services.keys.create("development")
        return plaintext

    from videoapi.composition import build_services

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
            f"Try: curl -H 'Authorization: Bearer {plaintext}' {settings.server.base_url}/v1/video/tasks\n",
            err=True,
        )


@click.command()
@click.option("--queues", default="cpu", show_default=True, help="Comma-separated queues to drain: cpu, gpu.")
@click.option("--threads", type=int, default=None, help="Worker threads (default: server.worker_threads).")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve this worker's Prometheus metrics on this port (with metrics.token, if set).",
)
def worker(queues: str, threads: int | None, metrics_port: int | None) -> None:
    """Run a worker process that drains the given queues."""
    import dramatiq

    from videoapi.composition import worker_lifecycle
    from videoapi.observability.logging import configure_logging
    from videoapi.observability.metrics import REGISTRY
    from videoapi.observability.metrics_server import serve_metrics
    from videoapi.queue.broker import make_broker
    from videoapi.queue.names import QUEUES, queue_name

    settings = load_cli_settings()
    refuse_unsafe_production(settings)
    if settings.queue.broker == "stub":
        raise click.ClickException("queue.broker is 'stub' (in-process): set redis or rabbitmq to run separate workers")
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    if unknown := set(wanted) - set(QUEUES):
        raise click.ClickException(f"unknown queue(s) {sorted(unknown)}; known: {list(QUEUES)}")
    configure_logging(settings)
    if metrics_port:
        serve_metrics(settings.server.host, metrics_port, REGISTRY, settings.metrics.token)
    broker = make_broker(settings, extra_middleware=[worker_lifecycle(settings)])
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


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from videoapi.db.migrate import upgrade

    settings = load_cli_settings()
    with _alembic_errors():
        upgrade(settings.database_url, revision)
    click.echo(f"database at {revision}", err=True)


@db.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_downgrade(revision: str, yes: bool) -> None:
    """Undo migrations down to REVISION (e.g. 0004), before deploying an older release.

    Run it with the newer release's code: it holds the downgrade scripts. Data in dropped tables
    or columns is lost: take a backup first.
    """
    from videoapi.db.migrate import downgrade

    if not yes:
        click.confirm(f"Downgrade the database schema to {revision}? Dropped data cannot be recovered", abort=True)
    settings = load_cli_settings()
    with _alembic_errors():
        downgrade(settings.database_url, revision)
    click.echo(f"database at {revision}", err=True)


@db.command("current")
def db_current() -> None:
    """Print the database's schema revision, marked (head) when it is the latest."""
    from videoapi.db.migrate import current

    with _alembic_errors():
        revision = current(load_cli_settings().database_url)
    click.echo(revision or "no revision (an empty database: run `videoapi db upgrade`)")


@contextmanager
def _alembic_errors() -> Iterator[None]:
    """An unknown revision (or another Alembic refusal) is one line, not a traceback."""
    from alembic.util.exc import CommandError

    try:
        yield
    except CommandError as exc:
        raise click.ClickException(str(exc)) from exc
