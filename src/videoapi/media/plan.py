"""A planned ffmpeg pass: what a planner (an edit kind, a classical style) decides before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Plan:
    """Everything a job runs for one edit, decided before anything runs."""

    args: list[str]
    """ffmpeg arguments (without the binary and global flags)."""
    output: Path
    poster: Path | None
    content_type: str
    duration_s: float
    """Expected output duration; ffmpeg's progress is measured against it."""
    files: dict[Path, str] = field(default_factory=dict)
    """Files the job writes before running (filtergraph scripts, subtitles, narration text)."""
    before: list[list[str]] = field(default_factory=list)
    """Commands (argv, no shell) the job runs, in order, before ffmpeg; e.g. text-to-speech."""
    extra_outputs: list[tuple[Path, str]] = field(default_factory=list)
    """More files the same pass produces, each stored as its own asset: (path, content type)."""
