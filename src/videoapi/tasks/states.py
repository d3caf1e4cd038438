"""Task statuses and priorities; the transitions themselves live in TaskService as conditional UPDATEs."""

from __future__ import annotations

from enum import StrEnum
from typing import get_args

from videoapi.settings import Priority


class Status(StrEnum):
    WAITING = "waiting"
    """A pipeline step whose dependencies have not all succeeded yet: never claimed."""
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELED})
LIVE = (Status.WAITING, Status.QUEUED, Status.RUNNING)
"""Tasks that will still run: they hold quota, count against task caps and keep their inputs."""

PRIORITIES: dict[str, int] = {name: level for level, name in enumerate(get_args(Priority))}
PRIORITY_NAMES: dict[int, str] = {v: k for k, v in PRIORITIES.items()}
