"""probe(): what it reports for good media, and the stable error codes for everything else."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import msgspec
import pytest

from tests.support.media import make_png_bomb, make_video
from videoapi.errors import MediaError
from videoapi.media import probe as probe_module
from videoapi.media.probe import MediaInfo, probe
from videoapi.settings import LimitSettings

pytestmark = pytest.mark.ffmpeg


def probe_error(path: Path, limits: LimitSettings) -> MediaError:
    with pytest.raises(MediaError) as info:
        probe(path, limits)
    assert str(path.parent) not in info.value.detail, "error details must not reveal server paths"
    return info.value


def test_mp4_with_audio_reports_streams_duration_and_size(mp4_with_audio: Path, limits: LimitSettings) -> None:
    info = probe(mp4_with_audio, limits)

    assert info.format_name.startswith("mov,mp4")
    assert info.duration_s == pytest.approx(2.0, abs=1 / 25)
    assert info.size_bytes == mp4_with_audio.stat().st_size
    assert info.bit_rate and info.bit_rate > 0
    assert not info.is_image
    assert info.video is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("h264", 320, 240)
    assert info.video.fps == pytest.approx(25.0)
    assert (info.video.rotation, info.video.pix_fmt, info.video.bit_depth) == (0, "yuv420p", 8)
    assert info.audio is not None
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("aac", 48000, 1)


def test_webm_reports_vp9_and_opus(webm_with_audio: Path, limits: LimitSettings) -> None:
    info = probe(webm_with_audio, limits)

    assert info.format_name == "matroska,webm"
    assert info.duration_s == pytest.approx(1.0, abs=1 / 24 + 0.01)
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("vp9", 160, 120)
    assert info.video.fps == pytest.approx(24.0)
    assert (info.audio.codec, info.audio.sample_rate) == ("opus", 48000)


def test_png_is_an_image_without_duration(png_image: Path, limits: LimitSettings) -> None:
    info = probe(png_image, limits)

    assert info.is_image
    assert info.duration_s == 0
    assert info.audio is None
    assert info.video is not None
    assert (info.video.codec, info.video.width, info.video.height, info.video.fps) == ("png", 64, 48, None)


def test_jpeg_and_single_frame_gif_are_images(tmp_path: Path, limits: LimitSettings) -> None:
    from tests.support.media import make_image

    for name in ("still.jpg", "still.gif"):
        info = probe(make_image(tmp_path / name, width=40, height=30), limits)
        assert info.is_image, name
        assert info.video is not None and (info.video.width, info.video.height) == (40, 30)


def test_audio_only_file_has_no_video(wav_audio: Path, limits: LimitSettings) -> None:
    info = probe(wav_audio, limits)

    assert info.video is None
    assert info.audio is not None
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("pcm_s16le", 44100, 1)
    assert info.duration_s == pytest.approx(1.0, abs=0.01)


def test_rotation_is_read_and_display_size_swapped(rotated_mp4: Path, limits: LimitSettings) -> None:
    info = probe(rotated_mp4, limits)

    assert info.video is not None
    assert info.video.rotation == 90
    assert (info.video.width, info.video.height) == (240, 320)


def test_media_info_encodes_to_a_json_dict_and_back(mp4_with_audio: Path, limits: LimitSettings) -> None:
    info = probe(mp4_with_audio, limits)

    as_dict = msgspec.to_builtins(info)

    assert as_dict["video"]["width"] == 320
    assert msgspec.convert(as_dict, MediaInfo) == info
    assert msgspec.json.decode(msgspec.json.encode(info), type=MediaInfo) == info


def test_random_bytes_named_mp4_are_unreadable(tmp_path: Path, limits: LimitSettings) -> None:
    path = tmp_path / "random.mp4"
    path.write_bytes(os.urandom(64 * 1024))

    assert probe_error(path, limits).code == "input_unreadable"


def test_empty_file_is_unreadable(tmp_path: Path, limits: LimitSettings) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()

    assert probe_error(path, limits).code == "input_unreadable"


def test_mp4_cut_in_half_with_moov_at_the_end_is_unreadable(
    tmp_path: Path, mp4_moov_at_end: Path, limits: LimitSettings
) -> None:
    data = mp4_moov_at_end.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])

    assert probe_error(path, limits).code == "input_unreadable"


def test_mp4_with_garbage_media_data_is_unreadable(tmp_path: Path, mp4_with_audio: Path, limits: LimitSettings) -> None:
    # Headers intact (faststart: moov first), every byte of media data replaced: the first
    # frame cannot be decoded even though the container opens.
    data = bytearray(mp4_with_audio.read_bytes())
    mdat = data.index(b"mdat") + 4
    data[mdat:] = os.urandom(len(data) - mdat)
    path = tmp_path / "garbage.mp4"
    path.write_bytes(bytes(data))

    assert probe_error(path, limits).code == "input_unreadable"


def write_fifo_playlist(tmp_path: Path) -> tuple[Path, Path]:
    """An HLS playlist whose segments are a fifo: opening a segment would block the reader."""
    fifo = tmp_path / "segment.ts"
    os.mkfifo(fifo)
    playlist = tmp_path / "playlist.m3u8"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n"
        f"#EXTINF:2,\nsegment.ts\n#EXTINF:2,\nfile://{fifo}\n#EXTINF:2,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    )
    return playlist, fifo


def probe_in_thread(path: Path, limits: LimitSettings, fifo: Path) -> BaseException | MediaInfo:
    """Run probe; if it hangs on the fifo, unblock it and fail: the segment was opened."""
    outcome: list[BaseException | MediaInfo] = []

    def target() -> None:
        try:
            outcome.append(probe(path, limits))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        with open(fifo, "wb"):  # let the blocked open() return
            pass
        thread.join(10)
        pytest.fail("probe opened a file referenced by the playlist")
    return outcome[0]


def test_hls_playlist_is_refused_without_opening_its_segments(tmp_path: Path, limits: LimitSettings) -> None:
    playlist, fifo = write_fifo_playlist(tmp_path)

    outcome = probe_in_thread(playlist, limits, fifo)

    assert isinstance(outcome, MediaError)
    assert outcome.code == "input_unsupported_format"


def test_demuxer_whitelist_alone_refuses_a_playlist_before_opening_segments(
    tmp_path: Path, limits: LimitSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the first-bytes sniff is out of the way, the whitelist given to avformat_open_input
    # must still refuse the hls demuxer before it reads the playlist's segments.
    monkeypatch.setattr(probe_module, "sniff_refused", lambda path: None)
    playlist, fifo = write_fifo_playlist(tmp_path)

    outcome = probe_in_thread(playlist, limits, fifo)

    assert isinstance(outcome, MediaError)
    assert outcome.code == "input_unsupported_format"


def test_ffconcat_script_is_refused(tmp_path: Path, limits: LimitSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "part.mp4"
    os.mkfifo(fifo)
    script = tmp_path / "list.ffconcat"
    script.write_text(f"ffconcat version 1.0\nfile part.mp4\nfile '{fifo}'\n")

    assert probe_error(script, limits).code == "input_unsupported_format"
    monkeypatch.setattr(probe_module, "sniff_refused", lambda path: None)
    outcome = probe_in_thread(script, limits, fifo)
    assert isinstance(outcome, MediaError) and outcome.code == "input_unsupported_format"


def test_png_bomb_is_refused_from_its_header_quickly(tmp_path: Path, limits: LimitSettings) -> None:
    bomb = make_png_bomb(tmp_path / "bomb.png", 20000, 20000)

    started = time.monotonic()
    error = probe_error(bomb, limits)

    assert error.code == "input_too_large"
    assert "20000x20000" in error.detail
    assert time.monotonic() - started < 1.0


def test_png_that_ffmpeg_would_decode_is_refused_over_the_pixel_limit(tmp_path: Path) -> None:
    # 16000x16000 is within libavutil's own size cap, so only our max_pixels stands in the way.
    bomb = make_png_bomb(tmp_path / "big.png", 16000, 16000)
    limits = LimitSettings(max_width=20000, max_height=20000, max_pixels=1920 * 1080)

    started = time.monotonic()
    error = probe_error(bomb, limits)

    assert error.code == "input_too_large"
    assert time.monotonic() - started < 1.0


def test_video_wider_than_the_limit_is_too_large(mp4_with_audio: Path) -> None:
    error = probe_error(mp4_with_audio, LimitSettings(max_width=300))

    assert error.code == "input_too_large"
    assert "320x240" in error.detail


def test_file_over_the_size_limit_is_too_large(mp4_with_audio: Path) -> None:
    error = probe_error(mp4_with_audio, LimitSettings(max_upload_bytes=1000))

    assert error.code == "input_too_large"


def test_video_longer_than_the_limit_is_too_long(mp4_with_audio: Path) -> None:
    error = probe_error(mp4_with_audio, LimitSettings(max_duration_s=1.0))

    assert error.code == "input_too_long"


def test_container_without_audio_or_video_has_no_media(tmp_path: Path, limits: LimitSettings) -> None:
    from tests.support.media import ffmpeg

    subtitles = tmp_path / "subs.srt"
    subtitles.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    path = tmp_path / "subs-only.mkv"
    ffmpeg("-i", str(subtitles), "-c:s", "srt", str(path))

    assert probe_error(path, limits).code == "input_no_media"


def test_mpegts_video_is_accepted(tmp_path: Path, limits: LimitSettings) -> None:
    path = make_video(tmp_path / "clip.ts", duration_s=0.5, audio=False)

    info = probe(path, limits)

    assert info.format_name == "mpegts"
    assert info.video is not None and info.video.width == 320
