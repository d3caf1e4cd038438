"""edit/lipsync: a video's mouth regenerated in sync with other audio (an asset, or narration text spoken
by the TTS), by the registry's `[defaults] lipsync` model (Wav2Lip).

The output lasts as long as the audio; a shorter video plays forwards and backwards until it ends. The
worker first synthesises the narration (if any) and reads the video once, downscaled (`analysis.analyse`),
finding the face `TRACK_SAMPLES_PER_S` times a second; the boxes are smoothed over a few samples and
interpolated in between (`face_track`). The render is one ffmpeg pass that reads the lip-synced frames
from its standard input (`Plan.feed`, made by `vision.lipsync` while ffmpeg encodes) and muxes the audio
in the same pass. Planning stays pure: the feed is a function the output step calls when it runs.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.editing import tts
from videoapi.editing.analysis import Analysis, Box, analyse, analysis_timeout, require_video
from videoapi.editing.source import Source
from videoapi.errors import InvalidRequest
from videoapi.media.encoding import CONTENT_TYPES, Format, Quality, container_flags, encode_args, poster_args
from videoapi.media.plan import Expected, Plan
from videoapi.media.probe import probe
from videoapi.media.safety import input_args
from videoapi.outputs.schemas import CommonOptions
from videoapi.outputs.step import run_before
from videoapi.settings import Settings
from videoapi.vision import pick_vision_model, require_vision_weights
from videoapi.vision.lipsync import Box as PixelBox
from videoapi.vision.lipsync import LipSyncJob, crop_box, lipsync_frames, output_frames

KIND = "edit.lipsync"
TRACK_SAMPLES_PER_S = 6.0
"""Frames a second the face detector sees; the boxes of the frames between are interpolated."""
TRACK_SHARE = 0.1
"""Share of the task's progress given to the narration and the face-tracking pass; the render has the rest."""
SMOOTH_SAMPLES = 2
"""A face box is averaged with up to this many samples on each side (in the same shot, all with a face)."""
MAX_NOTES = 10
"""Stretches without a face listed in `result.notes`, at most."""
NARRATION_CHARS_PER_S = 12.0
"""Reading pace assumed at submission, when a narration's length is not known yet: slower than espeak-ng's
default (about 17 characters a second), so that the reservation covers it; the worker charges the real one."""


class LipsyncNarration(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Text spoken by text-to-speech (espeak-ng or a neural voice of the registry), as `edit/audio` narrates."""

    text: str
    voice: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    """A neural voice of the registry (GET /v1/video/models, `voices`), or an espeak-ng language as
    `espeak:<language>` or bare (default en, espeak-ng)."""
    variant: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    """espeak-ng voice variant, e.g. f3, m3 (espeak-ng voices only)."""
    rate_wpm: Annotated[int, Meta(ge=tts.RATE_WPM[0], le=tts.RATE_WPM[1])] | None = None
    """Speaking rate in words per minute (default 175)."""
    pitch: Annotated[int, Meta(ge=tts.PITCH[0], le=tts.PITCH[1])] | None = None
    """0..99 (default 50; espeak-ng voices only)."""


class LipsyncRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Regenerate the mouth of the face in `input` in sync with `audio` (an asset's audio stream) or
    `narration` (text spoken by text-to-speech); give exactly one. The output lasts as long as the audio:
    a shorter video plays forwards, then backwards, and so on (ping-pong). Frames where no face is found
    pass through unchanged; a video with no face at all fails with `no_face_found`. Needs the registry's
    `[defaults] lipsync` model (Wav2Lip: research and non-commercial use only)."""

    input: InputRef
    """The video with a face (frontal, at least a seventh of the frame's height)."""
    audio: InputRef | None = None
    """Audio or video whose first audio stream is the speech."""
    narration: LipsyncNarration | None = None
    format: Format = "mp4"
    quality: Quality = "medium"


class SyncedLipsync(LipsyncRequest, forbid_unknown_fields=True, kw_only=True):
    """The request with what the worker prepared: the speech, the face track, the model (never sent by a client)."""

    audio_path: str
    audio_s: float
    boxes: list[tuple[int, int, int, int] | None]
    """Face crop of each source frame, in pixels (None: no face there)."""
    model: str
    model_folder: str
    weights: str | None
    device: str
    threads: int


def lipsync_inputs(req: LipsyncRequest) -> list[InputRef]:
    """The video, then the audio asset if there is one."""
    return [req.input] if req.audio is None else [req.input, req.audio]


def check_lipsync(req: LipsyncRequest, settings: Settings) -> None:
    """Checks that need no probe: one source of speech, a speakable narration, an installed model."""
    if (req.audio is None) == (req.narration is None):
        message = "give exactly one of `audio` (an asset with speech) or `narration` (text to speak)"
        raise InvalidRequest(message, errors=[{"field": "audio", "message": message}])
    n = req.narration
    if n is not None:
        tts.check_narration(n.text, n.voice, n.variant, n.pitch, "narration", settings)
    require_vision_weights(settings, pick_vision_model(settings, "lipsync", "input"), "input")


def narration_estimate_s(text: str, rate_wpm: int | None) -> float:
    """An upper estimate of how long a narration speaks, before it is synthesised."""
    rate = (rate_wpm or tts.DEFAULT_RATE_WPM) / tts.DEFAULT_RATE_WPM
    return max(1.0, len(text) / (NARRATION_CHARS_PER_S * rate) + 1.0)


def plan_lipsync(req: LipsyncRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    """One ffmpeg pass: the lip-synced frames on stdin (raw I420), the audio muxed in, cut at its length."""
    check_lipsync(req, settings)
    media = sources[0].media
    require_video(media, "lip-sync")
    assert media.video is not None
    fps = media.video.fps or 25.0
    width, height = media.video.width // 2 * 2, media.video.height // 2 * 2
    if isinstance(req, SyncedLipsync):
        audio_path, audio_s = Path(req.audio_path), req.audio_s
    elif req.audio is not None:
        speech = sources[1].media
        if speech.audio is None:
            message = "the audio input has no audio stream"
            raise InvalidRequest(message, code="input_no_audio", errors=[{"field": "audio", "message": message}])
        audio_path, audio_s = sources[1].path, speech.duration_s
    else:
        assert req.narration is not None
        audio_path = out_dir.parent / "narration.wav"
        audio_s = narration_estimate_s(req.narration.text, req.narration.rate_wpm)
    if audio_s > settings.editing.max_timeline_s:
        message = (
            f"the audio lasts {audio_s:.1f} s; at most {settings.editing.max_timeline_s:g} s (editing.max_timeline_s)"
        )
        raise InvalidRequest(message, code="limit_exceeded", errors=[{"field": "audio", "message": message}])
    duration_s = output_frames(audio_s, fps) / fps
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-framerate", f"{fps:.6f}"]
    args = [*raw, "-i", "pipe:0", *input_args(audio_path)]
    args += ["-map", "0:v:0", "-map", "1:a:0", "-vf", "setsar=1,format=yuv420p"]
    args += encode_args(req.format, req.quality)
    out = out_dir / f"output.{req.format}"
    args += ["-t", f"{duration_s:.6f}", *container_flags(req.format, out)]
    poster = out_dir / "poster.jpg"
    feed = None
    if isinstance(req, SyncedLipsync):
        job = LipSyncJob(
            video=sources[0].path,
            fps=fps,
            width=width,
            height=height,
            source_frames=len(req.boxes),
            boxes=req.boxes,
            audio=audio_path,
            audio_s=audio_s,
            model_folder=Path(req.model_folder),
            weights=req.weights,
            device=req.device,
            threads=req.threads,
        )

        def feed():  # type: ignore[no-untyped-def]
            return lipsync_frames(job)

    expect = Expected(
        video_s=duration_s,
        audio_s=duration_s,
        size=(width, height),
        audio_codec="aac" if req.format == "mp4" else "opus",
        frame_s=max(0.04, 1.5 / fps),
    )
    return Plan(
        [*args, *poster_args(poster)], out, poster, CONTENT_TYPES[req.format], duration_s, expect=expect, feed=feed
    )


def face_track(found: Analysis, width: int, height: int) -> list[PixelBox | None]:
    """The face crop of each frame of `found`: the biggest face of each sample, averaged with up to
    `SMOOTH_SAMPLES` neighbours each side (same shot, all with a face), interpolated linearly between
    two samples with a face in the same shot, else the nearer sample's of the frame's shot (None when it has
    no face)."""
    samples = sorted(found.faces)
    shot = _shots(found)
    faces = {n: found.faces[n][0] for n in samples if found.faces[n]}
    smoothed: dict[int, Box] = {}
    for i, n in enumerate(samples):
        if n not in faces:
            continue
        near = [faces[n]]
        for direction in (-1, 1):
            for k in range(1, SMOOTH_SAMPLES + 1):
                j = i + direction * k
                if not 0 <= j < len(samples) or samples[j] not in faces or shot(samples[j]) != shot(n):
                    break
                near.append(faces[samples[j]])
        smoothed[n] = Box(*(sum(getattr(b, a) for b in near) / len(near) for a in ("cx", "cy", "w", "h")))
    boxes: list[PixelBox | None] = [None] * found.frames
    if not samples:
        return boxes
    for frame in range(found.frames):
        k = bisect_right(samples, frame)
        before = samples[max(k - 1, 0)]
        after = samples[k] if k < len(samples) else found.frames
        a, b = smoothed.get(before), smoothed.get(after)
        if a is not None and b is not None and shot(before) == shot(after) == shot(frame):
            t = (frame - before) / (after - before)
            box = Box(*(getattr(a, f) + (getattr(b, f) - getattr(a, f)) * t for f in ("cx", "cy", "w", "h")))
        else:
            # The nearer sample of the frame's own shot decides (the one before on a tie).
            near = sorted((abs(frame - s), s) for s in (before, after) if s < found.frames and shot(s) == shot(frame))
            box = smoothed.get(near[0][1]) if near else None
        if box is not None:
            boxes[frame] = crop_box(box.cx * width, box.cy * height, box.w * width, box.h * height, width, height)
    return boxes


def _shots(found: Analysis) -> Callable[[int], int]:
    """Frame index -> the number of its shot (cuts start new shots)."""
    cuts = sorted(found.cuts)
    return lambda frame: bisect_right(cuts, frame)


async def prepare_lipsync(
    req: LipsyncRequest,
    sources: Sequence[Source],
    work_dir: Path,
    settings: Settings,
    on_progress: Callable[[float], None] | None = None,
) -> SyncedLipsync:
    """The request to render: the narration synthesised (or the audio asset measured) and the face tracked."""
    from videoapi.vision.masks import model_device

    check_lipsync(req, settings)
    spec = pick_vision_model(settings, "lipsync", "input")
    folder = require_vision_weights(settings, spec, "input")
    media = sources[0].media
    require_video(media, "lip-sync")
    assert media.video is not None
    if req.narration is not None:
        audio_path, audio_s = await _speak(req.narration, work_dir, settings)
    else:
        audio_path = sources[1].path
        if sources[1].media.audio is None:
            message = "the audio input has no audio stream"
            raise InvalidRequest(message, code="input_no_audio", errors=[{"field": "audio", "message": message}])
        audio_s = sources[1].media.duration_s
    found = await analyse(
        sources[0].path,
        media,
        faces=True,
        samples_per_s=TRACK_SAMPLES_PER_S,
        timeout_s=analysis_timeout(media),
        max_pixels=settings.limits.max_pixels,
        on_progress=(lambda f: on_progress(f * TRACK_SHARE)) if on_progress is not None else None,
    )
    boxes = face_track(found, media.video.width, media.video.height)
    if not any(boxes):
        raise InvalidRequest(
            "no face was found in the video: lip sync needs a frontal face at least a seventh of the frame's height",
            code="no_face_found",
            errors=[{"field": "input", "message": "no frontal face found on any sampled frame"}],
        )
    fields = {f: getattr(req, f) for f in LipsyncRequest.__struct_fields__}
    return SyncedLipsync(
        **fields,
        audio_path=str(audio_path),
        audio_s=audio_s,
        boxes=boxes,
        model=spec.name,
        model_folder=str(folder),
        weights=spec.weights,
        device=model_device(spec, settings),
        threads=settings.generation.cpu_threads,
    )


async def _speak(n: LipsyncNarration, work_dir: Path, settings: Settings) -> tuple[Path, float]:
    """Synthesise the narration into `work_dir/narration.wav`; (its path, its length in seconds)."""
    speech = tts.plan_narration(
        n.text,
        voice=n.voice,
        variant=n.variant,
        rate_wpm=n.rate_wpm,
        pitch=n.pitch,
        field="narration",
        settings=settings,
        out_dir=work_dir,
        name="narration",
    )
    speech.text_file.write_text(speech.text, encoding="utf-8")
    if speech.job is None:
        await run_before(speech.argv)
    else:
        manifest, content, argv = tts.synthesis_command([speech.job], work_dir, settings)
        manifest.write_text(content, encoding="utf-8")
        await run_before(argv)
    return speech.wav, probe(speech.wav, settings.limits).duration_s


def describe_lipsync(req: LipsyncRequest, sources: Sequence[Source], result: dict[str, Any]) -> None:
    """`result.lipsync`: the model, the audio's length, and how much of the video had a face."""
    if not isinstance(req, SyncedLipsync):
        return
    with_face = sum(1 for b in req.boxes if b is not None)
    fps = (sources[0].media.video.fps if sources[0].media.video else None) or 25.0
    result["lipsync"] = {
        "model": req.model,
        "audio_s": round(req.audio_s, 3),
        "source_frames": len(req.boxes),
        "frames_with_face": with_face,
        "looped": output_frames(req.audio_s, fps) > len(req.boxes),
    }
    gaps = _gaps(req.boxes)
    result["notes"] = [
        f"no face from {a / fps:.2f} s to {b / fps:.2f} s of the video: those frames are unchanged"
        for a, b in gaps[:MAX_NOTES]
    ] + ([f"and {len(gaps) - MAX_NOTES} more stretches without a face"] if len(gaps) > MAX_NOTES else [])


def _gaps(boxes: Sequence[object | None]) -> list[tuple[int, int]]:
    """(first, end) of each run of frames without a box."""
    runs, start = [], None
    for i, box in enumerate(boxes):
        if box is None and start is None:
            start = i
        elif box is not None and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(boxes)))
    return runs
