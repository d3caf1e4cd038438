"""Media fixtures generated with ffmpeg at test time: small, fast, and described by their arguments."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import av
import numpy as np

from videoapi.media.ffmpeg import FFMPEG

_AUDIO_CODEC = {"mp4": "aac", "mov": "aac", "mkv": "aac", "webm": "libopus", "ts": "aac", "avi": "libmp3lame"}


def ffmpeg(*args: str, timeout_s: float = 60) -> None:
    """Run the bundled ffmpeg quietly; fail with its stderr."""
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {proc.stderr}")


def make_video(
    path: Path,
    duration_s: float = 2.0,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    audio: bool = True,
    codec: str | None = None,
    container: str | None = None,
    faststart: bool = True,
    rotation: int = 0,
    sample_rate: int = 48000,
    gop_frames: int | None = None,
    open_gop: bool = False,
) -> Path:
    """A testsrc2 video (plus a 440 Hz sine when `audio`), encoded as fast as possible.

    `container` defaults to the path's suffix, `codec` to libvpx-vp9 for webm and libx264 otherwise.
    `rotation` (degrees counterclockwise) is stored as a display matrix; the frames themselves stay
    `width`x`height`.
    `gop_frames` (libx264): a keyframe every that many frames, with B-frames, as a camera or an encoder
    at its defaults would write (ultrafast otherwise: one keyframe, no B-frames).
    With libx265, `gop_frames` gives closed GOPs of that length coded with 32-pixel CTUs (x265's default
    is 64: a piece re-encoded at its defaults has other parameter sets), or open GOPs (CRA pictures with
    leading pictures, x265's default) with `open_gop`.
    """
    container = container or path.suffix.lstrip(".") or "mp4"
    codec = codec or ("libvpx-vp9" if container == "webm" else "libx264")
    args = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={duration_s}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={sample_rate}:duration={duration_s}"]
    args += ["-t", str(duration_s), "-c:v", codec, "-pix_fmt", "yuv420p"]
    if codec == "libx264" and gop_frames:
        args += ["-preset", "veryfast", "-g", str(gop_frames), "-keyint_min", str(gop_frames), "-bf", "2"]
    elif codec == "libx264":
        args += ["-preset", "ultrafast"]
    elif codec == "libx265":
        params = ["log-level=error"]
        if gop_frames:
            params += [f"keyint={gop_frames}", f"min-keyint={gop_frames}", "scenecut=0", "ctu=32"]
            # x265's open GOPs at 4 B-frames put leading (RASL) pictures after each CRA.
            params += ["bframes=4"] if open_gop else ["bframes=3", "open-gop=0"]
        args += ["-preset", "veryfast", "-tag:v", "hvc1", "-x265-params", ":".join(params)]
    elif codec == "libvpx-vp9":
        args += ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"]
    if audio:
        args += ["-c:a", _AUDIO_CODEC.get(container, "aac")]
    if container in ("mp4", "mov") and faststart:
        args += ["-movflags", "+faststart"]
    fmt = "matroska" if container == "mkv" else "mpegts" if container == "ts" else container
    if rotation:
        tmp = path.with_name(path.stem + ".unrotated" + path.suffix)
        ffmpeg(*args, "-f", fmt, str(tmp))
        # A display matrix only survives a stream copy: re-encoding would apply the rotation.
        ffmpeg("-display_rotation", str(rotation), "-i", str(tmp), "-c", "copy", "-f", fmt, str(path))
        tmp.unlink()
    else:
        ffmpeg(*args, "-f", fmt, str(path))
    return path


def make_audio(path: Path, duration_s: float = 1.0, sample_rate: int = 48000) -> Path:
    """A sine tone; the codec follows the suffix (.wav, .mp3, .m4a, .ogg, .flac)."""
    codec = {".mp3": "libmp3lame", ".m4a": "aac", ".ogg": "libopus", ".flac": "flac"}.get(path.suffix, "pcm_s16le")
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate={sample_rate}:duration={duration_s}",
        "-c:a",
        codec,
        str(path),
    )
    return path


def make_image(path: Path, width: int = 320, height: int = 240, color: str | None = None) -> Path:
    """One still picture (testsrc2, or a solid `color`); the format follows the suffix."""
    source = f"color=c={color}:size={width}x{height}" if color else f"testsrc2=size={width}x{height}"
    ffmpeg("-f", "lavfi", "-i", source, "-frames:v", "1", "-update", "1", str(path))
    return path


def make_png_bomb(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A valid 1-bit PNG of `width`x`height` zeros: a few KiB on disk, huge once decoded.

    Written by hand because encoding it with ffmpeg would need the whole frame in memory.
    """
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    )
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def decode(path: Path) -> np.ndarray:
    """All frames of a video as (frames, height, width, 3) uint8 RGB."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def video_info(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {"frames": frames, "width": stream.width, "height": stream.height, "fps": float(stream.average_rate),
                "codec": stream.codec_context.name}  # fmt: skip


def with_remote_manifest_url(path: Path, url: str) -> Path:
    """Add XMP saying `dcterms:provenance="url"` (a remote C2PA manifest) to a JPEG, PNG or MP4, in place.

    JPEG: an APP1 XMP segment after SOI; PNG: an iTXt `XML:com.adobe.xmp` chunk after IHDR;
    MP4: a top-level `uuid` box with the XMP UUID at the end.
    """
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" '
        f'dcterms:provenance="{url}"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    data = path.read_bytes()
    if data[:2] == b"\xff\xd8":
        payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp
        data = data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
        itxt = _png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp)
        data = data[:ihdr_end] + itxt + data[ihdr_end:]
    elif data[4:8] == b"ftyp":
        body = bytes.fromhex("be7acfcb97a942e89c71999491e3afac") + xmp
        data += struct.pack(">I", 8 + len(body)) + b"uuid" + body
    else:
        raise ValueError(f"{path.name}: not a JPEG, PNG or MP4")
    path.write_bytes(data)
    return path


def make_growing_video(path: Path, small: str = "320x240", large: str = "2000x2000", small_s: float = 8.0) -> Path:
    """An MPEG-TS whose H.264 frames are `small` for `small_s` seconds and then `large`.

    Two transport streams joined byte for byte: a probe sees only the small first part, a decoder
    that reads on meets a new SPS and starts returning large frames. Timestamps run on across the join.
    """
    parts = []
    for size, duration_s, offset_s in ((small, small_s, 0.0), (large, 1.0, small_s)):
        part = path.with_name(f"{path.stem}.{size}.ts")
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=5:duration={duration_s}", "-c:v", "libx264",
               "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-output_ts_offset", str(offset_s),
               "-f", "mpegts", str(part))  # fmt: skip
        parts.append(part)
    path.write_bytes(b"".join(p.read_bytes() for p in parts))
    for part in parts:
        part.unlink()
    return path


def make_lying_duration(src: Path, dst: Path, factor: float) -> Path:
    """A copy of an MP4 whose headers (mvhd, tkhd, mdhd) claim `factor` times its real length,
    while every sample (and the edit list) is still there: a decoder reads them all, a probe believes
    the headers."""
    import struct

    data = bytearray(src.read_bytes())
    offsets = {b"mvhd": 16, b"tkhd": 20, b"mdhd": 16}  # version 0: where the 32-bit duration sits
    for box, offset in offsets.items():
        start = 0
        while (at := data.find(box, start)) != -1:
            body = at + 4
            assert data[body] == 0, f"{box!r} version 1 is not handled"
            pos = body + offset
            (value,) = struct.unpack(">I", data[pos : pos + 4])
            data[pos : pos + 4] = struct.pack(">I", max(1, int(value * factor)))
            start = at + 4
    dst.write_bytes(bytes(data))
    return dst


def make_speech(
    path: Path,
    sentences: list[tuple[float, str]],
    duration_s: float,
    video: bool = False,
) -> list[tuple[float, float]]:
    """espeak-ng speaking each (offset_s, text) over silence, `duration_s` long; with `video`, a 160x90
    picture too. Returns the voiced span (start_s, end_s) of each sentence, measured on the synthesised audio."""
    import wave

    spans: list[tuple[float, float]] = []
    inputs: list[str] = []
    delays: list[str] = []
    for i, (offset_s, text) in enumerate(sentences):
        wav = path.with_name(f"{path.stem}.sentence{i}.wav")
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True, timeout=30)
        with wave.open(str(wav)) as reader:
            rate = reader.getframerate()
            samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
        voiced = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
        spans.append((offset_s + voiced[0] / rate, offset_s + voiced[-1] / rate))
        inputs += ["-i", str(wav)]
        delays.append(f"[{i}:a]adelay={round(offset_s * 1000)}:all=1[s{i}]")
    mix = "".join(f"[s{i}]" for i in range(len(sentences)))
    graph = ";".join([*delays, f"{mix}amix=inputs={len(sentences)}:normalize=0,apad,atrim=0:{duration_s}[a]"])
    args = [*inputs]
    if video:
        args += ["-f", "lavfi", "-i", f"color=c=gray:size=160x90:rate=10:duration={duration_s}"]
    args += ["-filter_complex", graph, "-map", "[a]"]
    if video:
        args += ["-map", f"{len(sentences)}:v", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac" if path.suffix in (".mp4", ".m4a") else "pcm_s16le", "-t", str(duration_s), str(path)]
    ffmpeg(*args)
    return spans


def make_silence(path: Path, duration_s: float = 2.0) -> Path:
    """Digital silence (16-bit PCM WAV, 16 kHz)."""
    ffmpeg("-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono:d={duration_s}", "-c:a", "pcm_s16le", str(path))
    return path
