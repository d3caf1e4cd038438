"""A planned ffmpeg pass: what a planner (an edit kind, a classical style) decides before anything runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Expected:
    """What the planner knows the main output must be; checked on the real file before it is stored."""

    video_s: float | None = None
    """Length of the video stream (within one frame)."""
    audio_s: float | None = None
    """Length of the audio stream (within one frame)."""
    audible_until_s: float | None = None
    """The plan has sound at least until here: digital silence starting earlier is a mismatch."""
    size: tuple[int, int] | None = None
    """Width and height of the video."""
    video_codec: str | None = None
    audio_codec: str | None = None
    frame_s: float = 0.04
    """One frame: the tolerance on lengths."""
    video_frames: int | None = None
    """Number of video frames, when the planner knows it (a smart trim: a gap inside keeps the length)."""
    pix_fmt: str | None = None
    """Pixel format of the video as decoded (yuv422p10le for ProRes)."""
    renditions: tuple[tuple[str, Expected], ...] = ()
    """An HLS output: each rendition's playlist (beside the master playlist) and what it must be."""


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
    documents: list[tuple[Path, str]] = field(default_factory=list)
    """Text files (a transcript) written with `files` and stored as outputs unprobed: (path, content type)."""
    expect: Expected | None = None
    """What the main output must be (lengths, sound, size, codecs); None: the planner declares nothing."""
    passes: list[list[str]] = field(default_factory=list)
    """ffmpeg passes (arguments as in `args`) run in order before the main one, e.g. the re-encoded
    pieces of a smart trim. A visible watermark applies to the main pass only: a plan with passes
    must not be planned for a watermarked output."""
    render: dict[str, Any] | None = None
    """How the output was rendered, shown as `result.render` (trims: smart or full, and why)."""
    watermark_label: str | None = None
    """The filter-graph label every output's video passes through, written `[label];[label]` in the
    graph (before the split of a GIF's palette or of an HLS ladder): a visible watermark is drawn there,
    once, rather than on each output."""
    fallback: Plan | None = None
    """Run instead when this plan fails (ffmpeg) or its output does not verify: the full re-encode
    behind a smart trim, so that a file the concat demuxer reads badly still gives a correct output."""
    feed: Callable[[], AsyncIterator[bytes]] | None = None
    """Makes the bytes the main pass reads on its standard input (`-i pipe:0`) while it runs: frames a
    model renders in the worker (lip sync), encoded as they come. Submission plans carry none."""


# Room past the planned length for the last frame and the encoder's audio priming.
LENGTH_MARGIN_S = 0.25


def bounded_args(plan: Plan) -> list[str]:
    """`plan.args` with `-t` on the main output: a container that lies about its length (headers say
    1 s, samples last an hour) cannot make a job render, or cost, more than was planned and charged.
    A plan that already bounds its main output (`-t`/`-to`, e.g. a trim) is left alone: its own bound is
    exact, ours has a margin. Stills and image sets are left as planned (their length is not a duration)."""
    if plan.duration_s <= 0 or not plan.content_type.startswith(("video/", "audio/")):
        return list(plan.args)
    args = list(plan.args)
    target = str(plan.output)
    if target not in args:
        return args
    end = len(args) - 1 - args[::-1].index(target)
    # The main output's own options run from the last input, or the output before it, to its path.
    others = {str(plan.poster), *(str(path) for path, _ in plan.extra_outputs)}
    start = 0
    for i in range(end):
        if (args[i] == "-i" and i + 1 < end) or (args[i] in others and i > 0 and args[i - 1] != "-i"):
            start = i + 2 if args[i] == "-i" else i + 1
    if any(option in ("-t", "-to") for option in args[start:end]):
        return args
    return [*args[:end], "-t", f"{plan.duration_s + LENGTH_MARGIN_S:.3f}", *args[end:]]
