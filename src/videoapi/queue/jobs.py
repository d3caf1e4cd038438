"""What a job handler receives and returns. The table of job kinds is built by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videoapi.db.base import Base
from videoapi.tasks.models import Task


@dataclass
class JobContext:
    task: Task
    work_dir: Path
    time_limit_s: float
    progress: float = 0.0
    """Set by the handler; saved by the heartbeat, so reporting progress costs no extra write."""
    stop_reason: str | None = None
    """Set by the runtime when this task leaves a running batch (canceled, timeout, lease_lost):
    the batch handler stops working for it and the other members carry on."""

    def report_progress(self, fraction: float) -> None:
        self.progress = max(self.progress, min(fraction, 1.0))


@dataclass
class JobOutput:
    result: dict[str, Any]
    assets: list[Base] = field(default_factory=list)
    """Rows inserted in the same transaction that marks the task succeeded."""
    stored_keys: list[str] = field(default_factory=list)
    """Objects already written to the store: deleted if the task cannot be finished (lease lost)."""


Handler = Callable[[JobContext], Awaitable[JobOutput]]
# Runs compatible tasks together (one batched model call): task id -> its output or its error.
BatchHandler = Callable[[list[JobContext]], Awaitable[dict[str, "JobOutput | BaseException"]]]


@dataclass(frozen=True)
class JobSpec:
    kind: str
    queue: str
    run: Handler
    run_batch: BatchHandler | None = None
    """Used for tasks claimed with a batch key (generation); `run` serves the others."""
