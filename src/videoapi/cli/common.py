"""What every command module shares: settings, services, key lookup, time options, progress, JSON."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import click

from videoapi.settings import Settings, SettingsError, load_settings, secret_problems

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

T = TypeVar("T")
DOCTOR_HINT = "`videoapi doctor` checks the whole setup"


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def refuse_unsafe_production(settings: Settings) -> None:
    """End a starting `serve` or `worker` with one line when production would run on placeholder secrets."""
    if settings.server.environment != "production":
        return
    if problems := secret_problems(settings):
        found = "; ".join(f"{problem} ({fix})" for problem, fix in problems)
        raise click.ClickException(f"refusing to start in production: {found}")


def with_services(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(services)` with services that publish through the configured broker, then close them.

    Errors we raise on purpose (not found, conflicts, bad values) and an unreachable or unmigrated
    database end the command with one line, not a traceback.
    """
    from sqlalchemy.exc import DBAPIError

    from videoapi.composition import build_services
    from videoapi.errors import AppError
    from videoapi.queue.broker import make_broker

    config = settings()
    broker = make_broker(config) if config.queue.broker != "stub" else None

    async def main() -> T:
        services = await build_services(config, broker)
        try:
            return await fn(services)
        finally:
            await services.close()

    try:
        return asyncio.run(main())
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    except DBAPIError as exc:
        raise click.ClickException(f"database error: {_first_line(exc.orig or exc)}; {DOCTOR_HINT}") from exc
    except OSError as exc:  # e.g. the database or the store refused the connection
        raise click.ClickException(f"{type(exc).__name__}: {_first_line(exc)}; {DOCTOR_HINT}") from exc
    finally:
        if broker is not None:
            broker.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def resolve_key_id(services: Any, key_id_or_prefix: str) -> str:
    """The id of the API key given by id or prefix (what `keys list` shows); a click error if none."""
    key = await find_key(services, key_id_or_prefix)
    return str(key.id)


async def find_key(services: Any, key_id_or_prefix: str) -> Any:
    from videoapi.auth.service import key_reference

    wanted = key_reference(key_id_or_prefix)
    for key in await services.keys.list():
        if wanted in (key.id, key.prefix):
            return key
    raise click.ClickException(f"no API key {key_id_or_prefix}")


# ---- time options -------------------------------------------------------------------------------

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


class Duration(click.ParamType):
    """A length of time: `90s`, `30m`, `24h`, `7d`, `2w`; a bare number only where `bare_unit` is given."""

    name = "duration"

    def __init__(self, bare_unit: str | None = None) -> None:
        self.bare_unit = bare_unit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        if match := _DURATION.fullmatch(text):
            amount, unit = float(match.group(1)), match.group(2)
        elif self.bare_unit and re.fullmatch(r"\d+(?:\.\d+)?", text):
            amount, unit = float(text), self.bare_unit
        else:
            self.fail(f"{value!r} is not a duration such as 30m, 24h, 7d or 2w", param, ctx)
        if amount <= 0:
            self.fail(f"{value!r} must be longer than zero", param, ctx)
        return timedelta(seconds=amount * _UNITS_S[unit])


class Since(click.ParamType):
    """A point in time: ISO 8601 (`2026-01-31`, `2026-01-31T08:00:00Z`; no zone means UTC) or a
    duration back from now (`24h`, `7d`)."""

    name = "since"

    def __init__(self, bare_unit: str | None = None) -> None:
        self.duration = Duration(bare_unit)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.now(UTC) - self.duration.convert(value, param, ctx)
        except click.BadParameter:
            pass
        try:
            when = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(
                f"{value!r} is neither an ISO time (2026-01-31, 2026-01-31T08:00:00Z) nor a duration (24h, 7d)",
                param,
                ctx,
            )
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# ---- output -------------------------------------------------------------------------------------


@contextmanager
def progress(length: int, label: str) -> Iterator[ProgressBar[int]]:
    """A progress bar on stderr (click hides it when stderr is not a terminal)."""
    with click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def human_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} TiB"
