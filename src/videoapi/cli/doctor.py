"""`videoapi doctor`: check configuration, services, media tools, GPU, models and disk in one go."""

from __future__ import annotations

import sys

import click

from videoapi.cli.common import echo_json

_COLORS = {"ok": "green", "info": "blue", "warn": "yellow", "fail": "red"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON list of {name, status, detail, fix}.")
def doctor(as_json: bool) -> None:
    """Check the installation; each line is ok, info, warn or fail, with a fix for warn and fail.

    Exits 1 when any check fails, else 0. Each check has its own time limit.
    """
    from videoapi.ops.doctor import config_failure, run_checks
    from videoapi.settings import SettingsError, load_settings

    try:
        checks = run_checks(load_settings())
    except SettingsError as exc:
        checks = [config_failure(exc)]
    if as_json:
        echo_json([c.as_dict() for c in checks])
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            status = click.style(f"{c.status:<4}", fg=_COLORS[c.status], bold=c.status == "fail")
            click.echo(f"{status}  {c.name:<{width}}  {c.detail}")
            if c.fix and c.status in ("warn", "fail"):
                click.echo(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
        counts = {s: sum(c.status == s for c in checks) for s in _COLORS}
        click.echo(", ".join(f"{n} {s}" for s, n in counts.items() if n), err=True)
    sys.exit(1 if any(c.status == "fail" for c in checks) else 0)
