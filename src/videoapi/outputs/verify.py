"""Output verification: the real file, probed, against what its plan declared (`Expected`).

A planner bug that yields a short, silent or mis-sized output must fail the task, never be stored as a
success: the output is decoded once (audio) and demuxed (video) after ffmpeg, before anything is stored.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from videoapi.errors import ProcessingError
from videoapi.media.plan import Expected

_SILENCE_BLOCK_S = 0.05
# PyAV names a stream's codec by the decoder it opens; these decoders decode the codec named.
_DECODER_CODECS = {"libdav1d": "av1", "libaom-av1": "av1", "libvpx-vp9": "vp9", "libvpx": "vp8"}
# The JPEG-range names are the same layout: x264 tags full-range input yuvj420p.
_PIX_FMT_ALIASES = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}


class OutputMismatch(ProcessingError):
    """The rendered output does not match its plan (length, sound, size or codec)."""

    code = "output_mismatch"
    title = "Output does not match its plan"


def verify_output(path: Path, expect: Expected) -> None:
    """Raise OutputMismatch naming every way `path` differs from `expect`; an HLS master playlist is
    checked through each rendition's playlist (every segment demuxed)."""
    if expect.renditions:
        _verify_renditions(path, expect.renditions)
        return
    problems = _problems(path, expect)
    if problems:
        raise OutputMismatch("output does not match its plan: " + "; ".join(problems))


def _verify_renditions(master: Path, renditions: tuple[tuple[str, Expected], ...]) -> None:
    listed = {line.strip() for line in master.read_text(encoding="utf-8").splitlines()}
    problems = []
    for playlist, expect in renditions:
        if playlist not in listed:
            problems.append(f"the master playlist does not list {playlist}")
            continue
        problems += [f"{playlist}: {p}" for p in _problems(master.parent / playlist, expect)]
    if problems:
        raise OutputMismatch("output does not match its plan: " + "; ".join(problems))


def _problems(path: Path, expect: Expected) -> list[str]:
    problems: list[str] = []
    with av.open(str(path)) as c:
        video = c.streams.video[0] if c.streams.video else None
        audio = c.streams.audio[0] if c.streams.audio else None
        _check_codec(problems, "video", video, expect.video_codec)
        _check_codec(problems, "audio", audio, expect.audio_codec)
        if expect.size is not None and video is not None:
            size = (video.codec_context.width, video.codec_context.height)
            if size != expect.size:
                problems.append(f"video is {size[0]}x{size[1]}, planned {expect.size[0]}x{expect.size[1]}")
        pix_fmt = video.codec_context.pix_fmt if video is not None else None
        if (
            expect.pix_fmt is not None
            and pix_fmt is not None
            and _PIX_FMT_ALIASES.get(pix_fmt, pix_fmt) != expect.pix_fmt
        ):
            problems.append(f"video pixel format is {pix_fmt}, planned {expect.pix_fmt}")
        ends = {"video": 0.0, "audio": 0.0}
        # An HLS playlist's timestamps start where its segments' do (MPEG-TS: 1.4 s), not at zero.
        offset_s = (c.start_time or 0) / 1e6 if c.format.name == "hls" else 0.0
        video_frames = 0
        wanted = [s for s in (video, audio) if s is not None]
        for packet in c.demux(*wanted):
            if packet.stream.type == "video" and packet.size:
                video_frames += 1
            if packet.pts is not None:
                end = float((packet.pts + packet.duration) * packet.time_base) - offset_s
                ends[packet.stream.type] = max(ends[packet.stream.type], end)
    if expect.video_frames is not None and video_frames != expect.video_frames:
        problems.append(f"the video has {video_frames} frames, planned {expect.video_frames}")
    for kind, planned in (("video", expect.video_s), ("audio", expect.audio_s)):
        if planned is not None and abs(ends[kind] - planned) > expect.frame_s + 1e-6:
            problems.append(f"the {kind} lasts {ends[kind]:.3f} s, planned {planned:.3f} s")
    if expect.audible_until_s is not None and audio is not None:
        silent_from = _trailing_silence_s(path)
        if silent_from is not None and silent_from < expect.audible_until_s - expect.frame_s:
            until_s = expect.audible_until_s
            problems.append(f"the audio is silent from {silent_from:.2f} s, planned sound until {until_s:.2f} s")
    return problems


def _check_codec(problems: list[str], kind: str, stream: av.stream.Stream | None, planned: str | None) -> None:
    if planned is None:
        return
    if stream is None:
        problems.append(f"no {kind} stream, planned {planned}")
    elif (name := _DECODER_CODECS.get(stream.codec_context.name, stream.codec_context.name)) != planned:
        problems.append(f"{kind} codec is {name}, planned {planned}")


def _trailing_silence_s(path: Path) -> float | None:
    """Where digital silence (every sample zero) starts and lasts to the end, or None."""
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].codec_context.sample_rate
        chunks = [_peaks(f) for f in c.decode(audio=0)]
    if not chunks:
        return 0.0
    loud = np.flatnonzero(np.concatenate(chunks))
    last = int(loud[-1]) + 1 if len(loud) else 0
    total = sum(len(x) for x in chunks)
    return None if total - last < _SILENCE_BLOCK_S * rate else last / rate


def _peaks(frame: av.AudioFrame) -> np.ndarray:
    """Per-sample peak over channels of one decoded frame."""
    data = np.abs(frame.to_ndarray())
    return data.max(axis=0) if frame.format.is_planar else data.reshape(frame.samples, -1).max(axis=1)
