"""Encoder settings shared by every planner: codec ladders, container flags, the poster output."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Quality = Literal["low", "medium", "high"]
Format = Literal["mp4", "webm"]

X264 = {"low": ("veryfast", "28"), "medium": ("veryfast", "23"), "high": ("medium", "18")}
VP9 = {"low": ("5", "38"), "medium": ("4", "33"), "high": ("2", "26")}
AUDIO_BITRATE = {"low": "96k", "medium": "128k", "high": "192k"}
POSTER_MAX_HEIGHT = 720
# A keyframe every 2 s whatever the frame rate: players seek fast, and output moderation samples
# frames by decoding keyframes only.
KEYFRAMES = ["-force_key_frames", "expr:gte(t,n_forced*2)"]
CONTENT_TYPES = {"mp4": "video/mp4", "webm": "video/webm"}
# Codecs a fast (stream-copy) trim can keep in each container.
COPYABLE = {
    "mp4": ({"h264", "hevc", "av1", "mpeg4", "vp9"}, {"aac", "mp3", "opus", "ac3", "eac3", "alac", "flac"}),
    "webm": ({"vp8", "vp9", "av1"}, {"opus", "vorbis"}),
}


# What `encode_args` encodes to, as PyAV names the codecs: (video, audio); what outputs are verified against.
OUTPUT_CODECS: dict[str, tuple[str, str]] = {"mp4": ("h264", "aac"), "webm": ("vp9", "opus")}


def encode_args(container: Format, quality: Quality) -> list[str]:
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
    flags = ["-movflags", "+faststart", "-f", "mp4"] if container == "mp4" else ["-f", "webm"]
    return [*flags, "-map_metadata", "-1", str(out)]


def poster_args(poster: Path) -> list[str]:
    # A second output of the same pass: the first frame of the result, decoded once with the rest.
    scale = f"scale=-2:'min(ih,{POSTER_MAX_HEIGHT})':force_divisible_by=2"
    return ["-map", "0:v:0", "-vf", scale, "-frames:v", "1", "-q:v", "4", "-f", "image2", "-update", "1", str(poster)]
