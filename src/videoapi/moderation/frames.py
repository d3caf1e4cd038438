"""Output moderation: frames sampled from every output are scanned by NudeNet's detector.

NudeNet's ONNX model (320n) ships inside its wheel and runs on the CPU with onnxruntime, so
nothing is downloaded. A frame is flagged when a detection of a blocked class scores at or
above the threshold; the task then fails with `moderation_blocked`, its output is never stored
and it is not charged. Scores of every scan are kept in the task's result or error.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from videoapi.errors import AppError
from videoapi.media.probe import decoded_frames, open_input
from videoapi.observability.metrics import MODERATION_BLOCKS
from videoapi.settings import LimitSettings, Settings

# Detector: BGR frames -> per frame, a list of {"class", "score", "box"}.
Detector = Callable[[Sequence[np.ndarray]], list[list[dict[str, Any]]]]

_lock = threading.Lock()
_nudenet: Any = None


def nudenet_detector(frames: Sequence[np.ndarray]) -> list[list[dict[str, Any]]]:
    global _nudenet
    with _lock:
        if _nudenet is None:
            from nudenet import NudeDetector

            _nudenet = NudeDetector()
    return _nudenet.detect_batch(list(frames), batch_size=max(1, len(frames)))


class ModerationBlocked(AppError):
    status = 422
    code = "moderation_blocked"
    title = "Blocked by content moderation"


@dataclass
class ScanReport:
    frames: int
    blocked: bool
    max_scores: dict[str, float] = field(default_factory=dict)
    """Highest score of each detected class over the sampled frames."""
    flagged_at_s: float | None = None
    flagged_class: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "frames_scanned": self.frames,
            "blocked": self.blocked,
            "max_scores": {k: round(v, 3) for k, v in sorted(self.max_scores.items())},
        }


def sample_frames(
    path: Path, every_s: float, max_frames: int, limits: LimitSettings | None = None
) -> list[tuple[float, np.ndarray]]:
    """BGR frames at 0, every_s, 2*every_s ... (at most `max_frames`, spread over the whole video).

    Decoding only keyframes is several times cheaper, and our encodes put one every 2 s; when the
    keyframes are too sparse for the sampling (other encoders), every frame is decoded instead.
    """
    limits = limits or LimitSettings()
    with open_input(path, limits) as container:
        if not container.streams.video:
            return []
        duration = float(container.duration / av.time_base) if container.duration else 0.0
    step = max(every_s, duration / max_frames) if duration > 0 else every_s
    targets = [i * step for i in range(max_frames) if i * step < max(duration, 1e-6)] or [0.0]
    keyframes = _pick_nearest(_decode(path, limits, keyframes_only=True), targets, tolerance=step / 2)
    if len(keyframes) >= len(targets):
        return keyframes
    return _pick(_decode(path, limits, keyframes_only=False), targets, tolerance=float("inf"))


def _decode(path: Path, limits: LimitSettings, *, keyframes_only: bool) -> Iterator[tuple[float, av.VideoFrame]]:
    with open_input(path, limits) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        for frame in decoded_frames(container, stream, limits):
            yield float(frame.time or 0.0), frame


def _pick_nearest(
    frames: Iterator[tuple[float, av.VideoFrame]], targets: list[float], tolerance: float
) -> list[tuple[float, np.ndarray]]:
    """For each target time, the nearest frame (before or after it) within `tolerance`, in one pass.

    Only the previous frame is held, so memory does not grow with the video.
    """
    out: list[tuple[float, np.ndarray]] = []
    pending = iter(targets)
    target = next(pending, None)
    previous: tuple[float, av.VideoFrame] | None = None

    def take(t: float, frame: av.VideoFrame) -> None:
        if not out or out[-1][0] != t:
            out.append((t, frame.to_ndarray(format="bgr24")))

    for t, frame in frames:
        while target is not None and t + 1e-6 >= target:
            before = previous if previous is not None and target - previous[0] <= t - target else None
            chosen = before or (t, frame)
            if abs(chosen[0] - target) <= tolerance:
                take(*chosen)
            target = next(pending, None)
        if target is None:
            break
        previous = (t, frame)
    if target is not None and previous is not None and abs(previous[0] - target) <= tolerance:
        take(*previous)  # the last target, past the last frame
    return out


def _pick(
    frames: Iterator[tuple[float, av.VideoFrame]], targets: list[float], tolerance: float
) -> list[tuple[float, np.ndarray]]:
    """For each target time, the first frame at or after it (within `tolerance`), in one pass."""
    out: list[tuple[float, np.ndarray]] = []
    pending = iter(targets)
    target = next(pending, None)
    for t, frame in frames:
        while target is not None and t + 1e-6 >= target:
            if t - target <= tolerance and (not out or out[-1][0] != t):
                out.append((t, frame.to_ndarray(format="bgr24")))
            target = next(pending, None)
        if target is None:
            break
    return out


def scan_output(
    path: Path,
    *,
    threshold: float,
    blocked_classes: Sequence[str],
    every_s: float = 2.0,
    max_frames: int = 16,
    detector: Detector | None = None,
    limits: LimitSettings | None = None,
) -> ScanReport:
    detector = detector or nudenet_detector
    frames = sample_frames(path, every_s, max_frames, limits)
    report = ScanReport(frames=len(frames), blocked=False)
    if not frames:
        return report
    # The detector works at 320 px; smaller frames decode and transfer faster.
    small = [(t, _shrink(f)) for t, f in frames]
    detections = detector([f for _, f in small])
    blocked = set(blocked_classes)
    for (t, _), found in zip(small, detections, strict=True):
        for det in found:
            label, score = str(det["class"]), float(det["score"])
            report.max_scores[label] = max(report.max_scores.get(label, 0.0), score)
            if label in blocked and score >= threshold and not report.blocked:
                report.blocked, report.flagged_at_s, report.flagged_class = True, t, label
    return report


def _shrink(bgr: np.ndarray, longest: int = 640) -> np.ndarray:
    h, w = bgr.shape[:2]
    scale = longest / max(h, w)
    return cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else bgr


async def scan_configured(settings: Settings, path: Path, threshold: float | None = None) -> ScanReport | None:
    """Scan an output as configured, before it is stored; raises `ModerationBlocked` for a blocked one
    (the task fails: the output is never stored and the task is not charged). None: scanning is off."""
    mod = settings.moderation
    if not mod.scan_outputs:
        return None
    report = await asyncio.to_thread(
        scan_output,
        path,
        threshold=mod.output_threshold if threshold is None else threshold,
        blocked_classes=mod.output_blocked_classes,
        every_s=mod.output_every_s,
        max_frames=mod.output_max_frames,
        limits=settings.limits,
    )
    raise_if_blocked(report)
    return report


def raise_if_blocked(report: ScanReport) -> None:
    if report.blocked:
        MODERATION_BLOCKS.labels("output", report.flagged_class or "unknown").inc()
        score = report.max_scores.get(report.flagged_class or "", 0.0)
        raise ModerationBlocked(
            f"the output was blocked by content moderation: {report.flagged_class} scored {score:.2f} "
            f"at {report.flagged_at_s:.1f} s ({report.frames} frame(s) scanned)",
        )
