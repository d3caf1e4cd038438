"""Input-safety rules shared by the probe (PyAV) and the ffmpeg runner.

A user's file is only ever opened by a demuxer on `ALLOWED_DEMUXERS` and only through the `file`
and `pipe` protocols. libavformat checks `format_whitelist` after probing and before the demuxer
reads its header, so a playlist (hls), a concat script or an SDP file is refused before it can
open any file it references. `sniff_refused` is a second, independent check on the first bytes.
"""

from __future__ import annotations

from pathlib import Path

# Demuxer names as libavformat spells them; a multi-name demuxer ("mov,mp4,m4a,3gp,3g2,mj2")
# passes when any of its names is listed. Deliberately absent: hls, dash, concat, sdp, rtp, rtsp,
# tee, lavfi, data, subfile, avisynth and every other text-based format.
# image2 is needed: a small JPEG whose content probe is not conclusive is picked by its extension.
# It reads other files only when the path holds a %d pattern, which `input_args` refuses.
ALLOWED_DEMUXERS = ",".join(
    (
        # containers
        "mov",
        "mp4",
        "m4a",
        "3gp",
        "3g2",
        "mj2",
        "matroska",
        "webm",
        "avi",
        "flv",
        "mpegts",
        "mpeg",
        "ogg",
        "asf",
        "nut",
        "ivf",
        "mxf",
        # raw video elementary streams
        "h264",
        "hevc",
        "m4v",
        "mpegvideo",
        "mjpeg",
        "obu",
        "yuv4mpegpipe",
        # audio
        "wav",
        "w64",
        "aiff",
        "caf",
        "mp3",
        "aac",
        "ac3",
        "eac3",
        "flac",
        "wv",
        "amr",
        # still images and GIF
        "gif",
        "gif_pipe",
        "png_pipe",
        "jpeg_pipe",
        "webp_pipe",
        "bmp_pipe",
        "tiff_pipe",
        "image2",
    )
)

PROTOCOL_WHITELIST = "file,pipe"

SNIFF_BYTES = 4096

# Markers of text formats that make a demuxer open other files or network resources.
_TEXT_MARKERS: tuple[tuple[bytes, str], ...] = (
    (b"#EXTM3U", "a playlist is not accepted as input"),
    (b"ffconcat", "a concat script is not accepted as input"),
    (b"v=0", "a session description (SDP) is not accepted as input"),
    (b"<?xml", "an XML document (e.g. a DASH manifest) is not accepted as input"),
    (b"<MPD", "a DASH manifest is not accepted as input"),
)


def input_args(path: Path) -> list[str]:
    """ffmpeg options that open one local input with the demuxer and protocol whitelists."""
    check_input_path(path)
    return [
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        ALLOWED_DEMUXERS,
        "-i",
        str(path),
    ]


def check_input_path(path: Path) -> None:
    """Refuse a path the image2 demuxer would read as a numbered sequence of files."""
    if "%" in str(path):
        raise ValueError("media input paths must not contain '%'")


def container_options() -> dict[str, str]:
    """The same whitelists as `input_args`, as PyAV container options."""
    return {"protocol_whitelist": PROTOCOL_WHITELIST, "format_whitelist": ALLOWED_DEMUXERS}


def sniff_refused(path: Path) -> str | None:
    """Return why the file must not be opened, judging by its first bytes, or None if it may be."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for marker, reason in _TEXT_MARKERS:
        if stripped.startswith(marker):
            return reason
    if head and _looks_like_text(head):
        return "a text file is not accepted as input"
    return None


def _looks_like_text(head: bytes) -> bool:
    # Every accepted format is binary and carries control bytes or high bytes within its first KiB
    # (headers, lengths, compressed data); plain text, whatever its syntax, is refused outright.
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sniff window does not make text binary.
        if exc.reason != "unexpected end of data":
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)
