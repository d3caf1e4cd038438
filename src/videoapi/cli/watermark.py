"""`videoapi watermark`: read the invisible watermark of a local file."""

from __future__ import annotations

from pathlib import Path

import click

from videoapi.cli.common import settings, with_services


@click.group()
def watermark() -> None:
    """Invisible watermark tools."""


@watermark.command("detect")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def watermark_detect(path: str) -> None:
    """Read the invisible watermark of a local video or image file and name the task that made it."""
    from videoapi.provenance.service import detect_path, task_for_token

    found = detect_path(settings(), Path(path))
    if not found.found or found.token is None:
        click.echo(f"no watermark found ({found.frames} frame(s) read)")
        raise SystemExit(1)
    token = found.token
    task_id = with_services(lambda s: task_for_token(s, token, None))
    click.echo(f"watermark found: token {token}, task {task_id or 'unknown on this server'}")
    click.echo(f"frames read: {found.frames}, agreement: {found.agreement:.3f}")
