"""Encoder settings shared by every planner: codec ladders, container flags, the poster output."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from videoapi.errors import InvalidRequest

Quality = Literal["low", "medium", "high"]
Format = Literal["mp4", "webm"]
"""The containers every edit kind writes (each with its default codec)."""
Container = Literal["mp4", "webm", "mov"]
Codec = Literal["h264", "hevc", "av1", "vp9", "prores"]
OutputFormat = Literal["mp4", "webm", "mov", "gif", "hls"]
"""What the kinds with full output options (transcode, composite) write; gif and hls: transcode only."""

X264 = {"low": ("veryfast", "28"), "medium": ("veryfast", "23"), "high": ("medium", "18")}
X265 = {"low": ("veryfast", "32"), "medium": ("veryfast", "28"), "high": ("fast", "22")}
VP9 = {"low": ("5", "38"), "medium": ("4", "33"), "high": ("2", "26")}
AUDIO_BITRATE = {"low": "96k", "medium": "128k", "high": "192k"}
POSTER_MAX_HEIGHT = 720
# A keyframe every 2 s whatever the frame rate: players seek fast, and output moderation samples
# frames by decoding keyframes only.
KEYFRAMES = ["-force_key_frames", "expr:gte(t,n_forced*2)"]
CONTENT_TYPES = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    "gif": "image/gif",
    "hls": "application/vnd.apple.mpegurl",
}
# Codecs a fast (stream-copy) trim can keep in each container.
COPYABLE = {
    "mp4": ({"h264", "hevc", "av1", "mpeg4", "vp9"}, {"aac", "mp3", "opus", "ac3", "eac3", "alac", "flac"}),
    "webm": ({"vp8", "vp9", "av1"}, {"opus", "vorbis"}),
}


# What `encode_args` encodes to by default, as PyAV names the codecs: (video, audio); what outputs are
# verified against.
OUTPUT_CODECS: dict[str, tuple[str, str]] = {
    "mp4": ("h264", "aac"),
    "webm": ("vp9", "opus"),
    "mov": ("h264", "aac"),
    "hls": ("h264", "aac"),
}
DEFAULT_CODEC: dict[str, Codec] = {"mp4": "h264", "webm": "vp9", "mov": "h264", "hls": "h264"}


@dataclass(frozen=True)
class VideoCodec:
    """One output codec: its software encoder, the containers that may hold it, what it decodes as."""

    name: Codec
    encoder: str
    containers: frozenset[str]
    pix_fmt: str
    """The pixel format it is encoded in (and verified against)."""
    quality: dict[str, list[str]]
    """Rate control per quality level, at comparable visual quality across codecs."""


# CRFs differ per codec for the same look: x265 and SVT-AV1 spend fewer bits at a higher number.
# ProRes has no CRF: the quality level picks the profile (LT, standard, HQ), all intra, 4:2:2 10-bit.
CODECS: dict[str, VideoCodec] = {
    "h264": VideoCodec(
        "h264", "libx264", frozenset({"mp4", "mov", "hls"}), "yuv420p",
        {q: ["-preset", p, "-crf", crf, "-profile:v", "high"] for q, (p, crf) in X264.items()},
    ),
    "hevc": VideoCodec(
        "hevc", "libx265", frozenset({"mp4", "mov", "hls"}), "yuv420p",
        {
            q: ["-preset", p, "-crf", crf, "-tag:v", "hvc1", "-x265-params", "log-level=error"]
            for q, (p, crf) in X265.items()
        },
    ),
    "av1": VideoCodec(
        "av1", "libsvtav1", frozenset({"mp4", "webm"}), "yuv420p",
        {
            q: ["-preset", p, "-crf", crf]
            for q, (p, crf) in {"low": ("10", "42"), "medium": ("8", "35"), "high": ("6", "28")}.items()
        },
    ),
    "vp9": VideoCodec(
        "vp9", "libvpx-vp9", frozenset({"mp4", "webm"}), "yuv420p",
        {
            q: ["-b:v", "0", "-crf", crf, "-deadline", "good", "-cpu-used", cpu_used, "-row-mt", "1"]
            for q, (cpu_used, crf) in VP9.items()
        },
    ),
    "prores": VideoCodec(
        "prores", "prores_ks", frozenset({"mov"}), "yuv422p10le",
        {q: ["-profile:v", p, "-vendor", "apl0"] for q, p in {"low": "1", "medium": "2", "high": "3"}.items()},
    ),
}  # fmt: skip
AUDIO_CODECS = {"webm": ("libopus", "opus")}
"""(encoder, decoded name) of the audio per container; AAC elsewhere."""


def output_codec(fmt: str, codec: str | None, *, field: str = "codec", format_field: str = "format") -> Codec:
    """The video codec of an output: `codec`, or the format's default; a 422 naming `field` when the
    container cannot hold it (ProRes in MP4, H.264 in WebM) or the format takes no codec (GIF)."""
    if fmt == "gif":
        if codec is not None:
            raise InvalidRequest(
                "a GIF has no video codec to choose",
                code="codec_unsupported",
                errors=[{"field": field, "message": f"leave {field} out with {format_field} `gif`"}],
            )
        return "h264"  # unused: GIF outputs are planned by `gif_args`
    chosen = codec or DEFAULT_CODEC[fmt]
    allowed = sorted(c for c, spec in CODECS.items() if fmt in spec.containers)
    if fmt not in CODECS[chosen].containers:
        raise InvalidRequest(
            f"{format_field} `{fmt}` cannot hold {field} `{chosen}`; it takes {', '.join(allowed)}",
            code="codec_unsupported",
            errors=[{"field": field, "message": f"{format_field} `{fmt}` takes one of: {', '.join(allowed)}"}],
        )
    return chosen  # type: ignore[return-value]


def video_args(codec: str, quality: Quality) -> list[str]:
    """The software encoder of `codec` at `quality`, with its pixel format and the 2 s keyframes."""
    spec = CODECS[codec]
    return ["-c:v", spec.encoder, *spec.quality[quality], "-pix_fmt", spec.pix_fmt, *KEYFRAMES]


def audio_args(container: str, quality: Quality) -> list[str]:
    encoder = AUDIO_CODECS.get(container, ("aac", "aac"))[0]
    return ["-c:a", encoder, "-b:a", AUDIO_BITRATE[quality]]


def output_codecs(container: str, codec: str | None = None) -> tuple[str, str]:
    """(video, audio) as PyAV names them, for `Expected`."""
    return codec or OUTPUT_CODECS[container][0], AUDIO_CODECS.get(container, ("aac", "aac"))[1]


def encode_args(container: str, quality: Quality, codec: str | None = None) -> list[str]:
    """Video and audio encoders of an output; `codec` None: the container's default (H.264, VP9 in WebM)."""
    if codec is not None and codec != DEFAULT_CODEC[container]:
        return [*video_args(codec, quality), *audio_args(container, quality)]
    if container == "webm":
        cpu_used, crf = VP9[quality]
        return [
            "-c:v", "libvpx-vp9", "-b:v", "0", "-crf", crf, "-deadline", "good", "-cpu-used", cpu_used,
            "-row-mt", "1", "-pix_fmt", "yuv420p", *KEYFRAMES,
            "-c:a", "libopus", "-b:a", AUDIO_BITRATE[quality],
        ]  # fmt: skip
    preset, crf = X264[quality]
    return [
        "-c:v", "libx264", "-preset", preset, "-crf", crf, "-pix_fmt", "yuv420p", "-profile:v", "high", *KEYFRAMES,
        "-c:a", "aac", "-b:a", AUDIO_BITRATE[quality],
    ]  # fmt: skip


def container_flags(container: str, out: Path) -> list[str]:
    flags = ["-movflags", "+faststart", "-f", container] if container in ("mp4", "mov") else ["-f", "webm"]
    return [*flags, "-map_metadata", "-1", str(out)]


def poster_args(poster: Path) -> list[str]:
    # A second output of the same pass: the first frame of the result, decoded once with the rest.
    scale = f"scale=-2:'min(ih,{POSTER_MAX_HEIGHT})':force_divisible_by=2"
    return ["-map", "0:v:0", "-vf", scale, "-frames:v", "1", "-q:v", "4", "-f", "image2", "-update", "1", str(poster)]


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask, which a container's cpuset narrows)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
