"""Checks shared by the Docker, compose and Kubernetes tests: the Dockerfile's instructions, `videoapi`
command lines parsed as the CLI would, and VIDEOAPI_* environments loaded as the settings would."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from videoapi.cli import main
from videoapi.settings import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"


@dataclass
class Stage:
    """One FROM ... stage of the Dockerfile: its instructions in order, continuation lines joined."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued RUN
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for line in lines:
        keyword, _, arg = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = arg.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        elif stages:
            stages[-1].instructions.append((keyword, arg.strip()))
    return stages


def exec_form(arg: str) -> list[str]:
    """The JSON array of an exec-form ENTRYPOINT/CMD/HEALTHCHECK CMD; fails on the shell form."""
    value = json.loads(arg)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arg
    return value


def dockerfile_env(stage: Stage) -> dict[str, str]:
    """ENV key=value pairs of a stage (values without quotes or spaces, as this Dockerfile writes them)."""
    env: dict[str, str] = {}
    for arg in stage.all("ENV"):
        for pair in arg.split():
            key, sep, value = pair.partition("=")
            assert sep, f"ENV {arg!r}: use the key=value form"
            env[key] = value
    return env


@dataclass(frozen=True)
class CliCall:
    path: tuple[str, ...]
    """Subcommand names, e.g. ("db", "upgrade")."""
    params: Mapping[str, Any]


def parse_videoapi_args(argv: Sequence[str]) -> CliCall:
    """Parse `videoapi ARGV` with the real click command tree (groups, options, types) without running it.

    Raises click's UsageError (unknown command or option, bad value) like the CLI would.
    """
    ctx = main.make_context("videoapi", list(argv), resilient_parsing=False)
    # make_context parsed the group's own options; the subcommand and its arguments are what is left.
    command: click.Command = main
    rest = list(argv)
    path: list[str] = []
    while isinstance(command, click.Group):
        assert not command.params, f"group {command.name} has options: parse them here too"
        if not rest:
            raise click.UsageError(f"`videoapi {' '.join(path)}` needs a subcommand", ctx)
        name, sub, rest = command.resolve_command(ctx, rest)
        assert name is not None and sub is not None
        path.append(name)
        if isinstance(sub, click.Group):
            ctx = click.Context(sub, info_name=name, parent=ctx)
        else:
            ctx = sub.make_context(name, list(rest), parent=ctx)
        command = sub
    return CliCall(tuple(path), ctx.params)


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Load settings from the VIDEOAPI_* variables of a container environment (unknown fields fail)."""
    return load_settings(environ={k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})


_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}` and `$$`."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = variables.get(name)
        if op in (":-", ":?"):
            unset = not value
        else:
            unset = value is None
        if op and op.endswith("?") and unset:
            raise KeyError(f"{name}: {arg}")
        if op and op.endswith("-") and unset:
            return arg
        return value or ""

    return _INTERPOLATION.sub(one, text)


def interpolation_variables(text: str) -> dict[str, str | None]:
    """Each interpolated variable with its operator (`:-`, `:?`, ...) or None for a plain `${VAR}`."""
    return {m.group("name"): m.group("op") for m in _INTERPOLATION.finditer(text) if m.group("name")}
