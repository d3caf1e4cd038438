"""What a job handler receives and returns, and the table of job kinds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from videoapi.assets.models import Asset
    from videoapi.services import Services
    from videoapi.tasks.models import Task


@dataclass
class JobContext:
    services: Services
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
    assets: list[Asset] = field(default_factory=list)
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


def job_table() -> dict[str, JobSpec]:
    """Every job kind of every feature module."""
    from videoapi.editing.jobs import JOBS as EDITING
    from videoapi.generation.jobs import JOBS as GENERATION

    return {spec.kind: spec for spec in [*EDITING, *GENERATION]}
