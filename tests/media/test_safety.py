"""Input safety: the demuxer whitelist and the first-bytes sniff refuse playlists and scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from videoapi.media.safety import ALLOWED_DEMUXERS, input_args, sniff_refused

REFUSED_DEMUXERS = {"hls", "concat", "ffconcat", "sdp", "rtp", "rtsp", "tee", "lavfi", "data", "subfile", "dash"}


def test_whitelist_names_no_demuxer_that_opens_other_files() -> None:
    assert not REFUSED_DEMUXERS & set(ALLOWED_DEMUXERS.split(","))


def test_input_args_whitelist_protocols_and_demuxers_before_the_input() -> None:
    args = input_args(Path("/work/task/input.mp4"))

    assert args == [
        "-protocol_whitelist",
        "file,pipe",
        "-format_whitelist",
        ALLOWED_DEMUXERS,
        "-i",
        "/work/task/input.mp4",
    ]


def test_input_args_refuse_a_path_the_image2_demuxer_would_read_as_a_sequence() -> None:
    with pytest.raises(ValueError, match="%"):
        input_args(Path("/work/task/frame%03d.png"))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"#EXTM3U\n#EXTINF:2,\nfile:///etc/passwd\n", "playlist"),
        (b"\xef\xbb\xbf#EXTM3U\n", "playlist"),
        (b"ffconcat version 1.0\nfile a.mp4\n", "concat"),
        (b"v=0\no=- 0 0 IN IP4 127.0.0.1\n", "SDP"),
        (b'<?xml version="1.0"?><MPD></MPD>', "XML"),
        (b"just some words\nin a text file\n", "text"),
        ("caf\u00e9 ".encode() * 2000, "text"),
    ],
)
def test_sniff_refuses_text_formats(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "input.mp4"
    path.write_bytes(content)

    refused = sniff_refused(path)

    assert refused is not None
    assert reason in refused


def test_sniff_accepts_binary_media(mp4_with_audio: Path, png_image: Path, wav_audio: Path) -> None:
    for path in (mp4_with_audio, png_image, wav_audio):
        assert sniff_refused(path) is None
