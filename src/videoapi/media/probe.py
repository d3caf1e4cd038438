"""Probe one local media file with PyAV: streams, duration, size, rotation; refuse what exceeds limits.

`probe` is synchronous and does blocking I/O and decoding; callers run it in a worker thread.
Every other PyAV reader of a user's file opens it with `open_input` and decodes it with
`decoded_frames`: the same demuxer and protocol whitelists as ffmpeg, and the frame-size limits on
every frame, since a stream may grow after the small first frame that the probe saw.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import msgspec

from videoapi.errors import MediaError
from videoapi.media.safety import check_input_path, container_options, sniff_refused
from videoapi.settings import LimitSettings

# Demuxers that hold one still picture per file (image2 too: `check_input_path` rules out sequences).
_IMAGE_DEMUXERS = frozenset({"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe"})

# Packets we read looking for the first decodable frame; keyframe distance plus decoder delay of
# any sane file fits in this, and a file of undecodable garbage fails quickly instead of being
# read to its end.
_MAX_PACKETS_TO_FIRST_FRAME = 600


class VideoInfo(msgspec.Struct, frozen=True, kw_only=True):
    codec: str
    width: int
    """Display width in pixels, after rotation."""
    height: int
    """Display height in pixels, after rotation."""
    fps: float | None
    """Average frame rate; None for still images and when the container does not say."""
    rotation: int
    """Display rotation in degrees counterclockwise (0, 90, 180 or 270), from the display matrix.

    Players (and ffmpeg, which autorotates) turn the decoded frames by this much for display.
    """
    pix_fmt: str
    bit_depth: int


class AudioInfo(msgspec.Struct, frozen=True, kw_only=True):
    codec: str
    sample_rate: int
    channels: int


class MediaInfo(msgspec.Struct, frozen=True, kw_only=True):
    format_name: str
    duration_s: float
    size_bytes: int
    bit_rate: int | None
    """Overall bit rate in bits per second, when the container knows it."""
    video: VideoInfo | None
    audio: AudioInfo | None
    is_image: bool


def probe(path: Path, limits: LimitSettings) -> MediaInfo:
    """Describe the media file at `path`, or raise MediaError with a stable code.

    Codes: input_unreadable, input_unsupported_format, input_no_media, input_too_large,
    input_too_long. Sizes are checked from stream headers before anything is decoded, and the
    first frame is decoded to prove the data is usable.
    """
    size_bytes = path.stat().st_size
    if size_bytes == 0:
        raise MediaError("The file is empty.", code="input_unreadable")
    if size_bytes > limits.max_upload_bytes:
        raise MediaError(
            f"The file has {size_bytes} bytes; the limit is {limits.max_upload_bytes}.",
            code="input_too_large",
            status=413,
        )
    if reason := sniff_refused(path):
        raise MediaError(f"Unsupported input: {reason}.", code="input_unsupported_format")

    with open_input(path, limits) as container:
        video_stream = container.streams.video[0] if container.streams.video else None
        audio_stream = container.streams.audio[0] if container.streams.audio else None
        if video_stream is None and audio_stream is None:
            raise MediaError("The file has no video or audio stream.", code="input_no_media")
        if video_stream is not None and video_stream.codec_context is None:
            raise MediaError("The video codec is not supported.", code="input_unsupported_format")
        if audio_stream is not None and audio_stream.codec_context is None:
            audio_stream = None  # an undecodable extra audio track; the video is still usable
        if video_stream is None and audio_stream is None:
            raise MediaError("The audio codec is not supported.", code="input_unsupported_format")

        format_name = container.format.name
        is_image = _is_image(format_name, video_stream, audio_stream)
        duration_s = 0.0 if is_image else _duration_s(container, video_stream, audio_stream)
        if duration_s > limits.max_duration_s:
            raise MediaError(
                f"The media lasts {duration_s:.1f} s; the limit is {limits.max_duration_s:g} s.",
                code="input_too_long",
            )

        video = None
        if video_stream is not None:
            cc = video_stream.codec_context
            # Header sizes, before any decoding. The image demuxers leave them at zero when the
            # probing decoder refused the frame (max_pixels, set in `_open`), so read them from
            # the image header ourselves for a precise error.
            header_size = (cc.width, cc.height) if cc.width and cc.height else _image_header_size(path)
            if header_size is not None:
                _check_frame_size(*header_size, limits)
            frame = _first_frame(container, video_stream, limits, size_known=header_size is not None)
            _check_frame_size(frame.width, frame.height, limits)
            # Only right angles are meaningful for planning; a display matrix rarely says otherwise.
            rotation = round(frame.rotation / 90) * 90 % 360
            width, height = (frame.height, frame.width) if rotation in (90, 270) else (frame.width, frame.height)
            fmt = frame.format
            video = VideoInfo(
                codec=cc.name,
                width=width,
                height=height,
                fps=None if is_image else _fps(video_stream.average_rate),
                rotation=rotation,
                pix_fmt=fmt.name,
                bit_depth=max((c.bits for c in fmt.components), default=8),
            )
        elif audio_stream is not None:
            _first_frame(container, audio_stream, limits, size_known=True)

        audio = None
        if audio_stream is not None:
            acc = audio_stream.codec_context
            audio = AudioInfo(codec=acc.name, sample_rate=acc.sample_rate, channels=acc.layout.nb_channels)

        return MediaInfo(
            format_name=format_name,
            duration_s=round(duration_s, 6),
            size_bytes=size_bytes,
            bit_rate=container.bit_rate or None,
            video=video,
            audio=audio,
            is_image=is_image,
        )


def open_input(path: Path, limits: LimitSettings) -> av.container.InputContainer:
    """Open a local media file for reading with the whitelists and the pixel cap; MediaError if it cannot be."""
    # `format_whitelist` must be given to avformat_open_input itself: checking container.format
    # after av.open would be too late, as the hls demuxer opens its segments while reading the
    # header. `max_pixels` reaches the decoders that avformat_find_stream_info runs on each stream.
    check_input_path(path)
    try:
        return av.open(
            str(path),
            container_options=container_options(),
            options={"max_pixels": str(limits.max_pixels)},
        )
    except av.error.FFmpegError as exc:
        if exc.errno == errno.EINVAL:
            # What libavformat answers for a demuxer that is not on the whitelist.
            raise MediaError(
                "Unsupported input: the file format is not accepted.", code="input_unsupported_format"
            ) from None
        raise MediaError(
            "The file is not readable media (unknown or damaged format).", code="input_unreadable"
        ) from None


def _is_image(
    format_name: str, video_stream: av.video.stream.VideoStream | None, audio_stream: av.audio.stream.AudioStream | None
) -> bool:
    if video_stream is None or audio_stream is not None:
        return False
    if format_name in _IMAGE_DEMUXERS:
        return True
    # A GIF with one frame is a still picture; an animated one is a video.
    return format_name == "gif" and video_stream.frames <= 1


def _duration_s(
    container: av.container.InputContainer,
    video_stream: av.video.stream.VideoStream | None,
    audio_stream: av.audio.stream.AudioStream | None,
) -> float:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    candidates = [
        float(s.duration * s.time_base)
        for s in (video_stream, audio_stream)
        if s is not None and s.duration is not None and s.time_base is not None
    ]
    return max(candidates, default=0.0)


def _fps(rate: Fraction | None) -> float | None:
    if not rate:
        return None
    return round(float(rate), 3)


def decoded_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, limits: LimitSettings
) -> Iterator[av.VideoFrame]:
    """Decode `stream`, refusing (`input_too_large`) the first frame over the frame-size limits."""
    stream.codec_context.options = {**stream.codec_context.options, "max_pixels": str(limits.max_pixels)}
    try:
        for frame in container.decode(stream):
            _check_frame_size(frame.width, frame.height, limits)
            yield frame
    except av.error.FFmpegError as exc:
        if exc.errno == errno.EINVAL:  # a decoder refusing a frame over max_pixels
            raise MediaError(
                "A frame exceeds the limit on pixels per frame.", code="input_too_large", status=413
            ) from None
        raise MediaError("The video data is damaged or truncated.", code="input_unreadable") from None


def _check_frame_size(width: int, height: int, limits: LimitSettings) -> None:
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise MediaError(
            f"The frame size {width}x{height} exceeds the limit "
            f"({limits.max_width}x{limits.max_height}, {limits.max_pixels} pixels).",
            code="input_too_large",
            status=413,
        )


def _first_frame(
    container: av.container.InputContainer, stream: av.stream.Stream, limits: LimitSettings, *, size_known: bool
) -> av.frame.Frame:
    """Decode the first frame of `stream`, proving its data is usable."""
    if stream.type == "video":
        # The decoder used here is a fresh one, so it needs the frame-size cap again.
        stream.codec_context.options = {**stream.codec_context.options, "max_pixels": str(limits.max_pixels)}
    try:
        for index, packet in enumerate(container.demux(stream)):
            for frame in packet.decode():
                return frame
            if index >= _MAX_PACKETS_TO_FIRST_FRAME:
                break
    except av.error.FFmpegError as exc:
        if stream.type == "video" and not size_known and exc.errno == errno.EINVAL:
            # Decoders answer a frame over max_pixels (or over libavutil's own size cap) with EINVAL,
            # damaged data with AVERROR_INVALIDDATA.
            raise MediaError(
                "The frame size exceeds the limit on pixels per frame.", code="input_too_large", status=413
            ) from None
        raise MediaError(f"The {stream.type} data is damaged or truncated.", code="input_unreadable") from None
    raise MediaError(
        f"No {stream.type} frame could be decoded: the file is damaged or truncated.", code="input_unreadable"
    )


def _image_header_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF, BMP or JPEG header, without decoding; None if unknown."""
    with path.open("rb") as fh:
        head = fh.read(256 * 1024)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return width, height
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return abs(width), abs(height)  # a negative height means top-down rows
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    # Walk the marker segments up to the first start-of-frame (SOF0..SOF15 but DHT, JPG, DAC).
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", head[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(head):
                return None
            height, width = struct.unpack(">HH", head[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None
