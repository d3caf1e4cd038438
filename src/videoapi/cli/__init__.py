"""`videoapi`: serve the API, run workers, migrate the database, and administer keys, tasks, storage and
models; `videoapi doctor` checks an installation.

One module per command group; what they share (settings, services, time options, progress bars)
is in `videoapi.cli.common`.
"""

from __future__ import annotations

import logging

import click
import structlog

from videoapi.cli.destinations import destinations
from videoapi.cli.doctor import doctor
from videoapi.cli.keys import keys
from videoapi.cli.mcp import mcp
from videoapi.cli.models import models
from videoapi.cli.process import db, serve, worker
from videoapi.cli.storage import storage, storage_purge
from videoapi.cli.tasks import tasks
from videoapi.cli.usage import usage
from videoapi.cli.watermark import watermark


@click.group()
def main() -> None:
    """videoapi: self-hosted video generation and editing API."""
    # Keep stdout for what a command prints (`--json` output is parsed): library log lines below
    # warning are dropped and the rest go through stdlib logging to stderr. `serve` and `worker`
    # configure full logging themselves; a process that already configured structlog is left alone.
    if not structlog.is_configured():
        structlog.configure(
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        )


for command in (serve, worker, db, keys, tasks, models, storage, usage, watermark, destinations, doctor, mcp):
    main.add_command(command)
# `videoapi purge` came first; it stays as the short name of `videoapi storage purge`.
main.add_command(storage_purge, "purge")

__all__ = ["main"]
