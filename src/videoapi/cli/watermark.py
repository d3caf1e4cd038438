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
    from videoapi.composition import watermark_key_for
    from videoapi.provenance.watermark import detect_file

    config = settings()
    found = detect_file(
        Path(path), watermark_key_for(config), limits=config.limits, max_frames=config.watermark.detect_max_frames
    )
    if not found.found or found.token is None:
        click.echo(f"no watermark found ({found.frames} frame(s) read)")
        raise SystemExit(1)
    token = found.token
    task_id = with_services(lambda s: s.detector.task_for_token(token, None))
    click.echo(f"watermark found: token {token}, task {task_id or 'unknown on this server'}")
    click.echo(f"frames read: {found.frames}, agreement: {found.agreement:.3f}")
