"""The outputs that are not one file with one video stream: an animated GIF and an HLS ladder.

Both are planned as one ffmpeg pass over a filter graph: a GIF's palette is computed and applied in the
same graph (split + palettegen + paletteuse), and every HLS rendition is a branch of one split, so the
input is decoded once whatever the number of renditions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoapi.media.encoding import AUDIO_BITRATE, Quality

GIF_PALETTE = {
    # (colours, stats mode, dither): fewer colours and ordered dithering make smaller files.
    "low": ("64", "full", "bayer:bayer_scale=3"),
    "medium": ("128", "full", "sierra2_4a"),
    "high": ("256", "diff", "sierra2_4a"),
}
HLS_MASTER = "master.m3u8"
HLS_DIR = "hls"
BASE_LABEL = "vbase"
"""The label before the split (`Plan.watermark_label`): what every GIF or HLS branch is made from."""
# Peak bitrate of a rendition by its short side: CRF keeps the look, the cap keeps each rung inside
# the bandwidth the master playlist advertises to players.
_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
HLS_MAXRATE_KBPS = {2160: 16000, 1440: 9000, 1080: 6000, 720: 3000, 480: 1200}


def gif_args(source: str, filters: list[str], quality: Quality, out: Path) -> list[str]:
    """One pass from `source` (a filter-graph pad such as `0:v:0`) through `filters` to a looping GIF."""
    colors, stats, dither = GIF_PALETTE[quality]
    graph = (
        f"[{source}]{','.join(filters)}[{BASE_LABEL}];[{BASE_LABEL}]split[gif_a][gif_b];[gif_a]palettegen=max_colors={colors}:stats_mode={stats}[gif_p];"
        f"[gif_b][gif_p]paletteuse=dither={dither}[gif]"
    )
    return [
        "-filter_complex",
        graph,
        "-map",
        "[gif]",
        "-an",
        "-loop",
        "0",
        "-f",
        "gif",
        "-map_metadata",
        "-1",
        str(out),
    ]


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    maxrate_kbps: int

    @property
    def playlist(self) -> str:
        return f"stream_{self.height}p.m3u8" if self.width >= self.height else f"stream_{self.width}p.m3u8"


def hls_ladder(shorts: list[int], width: int, height: int, rescale: Callable[[int, int, int], int]) -> list[Rendition]:
    """The renditions for a `width` x `height` source: each short side of `shorts` at or below the
    source's (never upscaled), largest first; a source smaller than every rung gets one at its size.

    `rescale(side, num, den)` rounds the long side the way ffmpeg's `-2` does.
    """
    source_short = min(width, height)
    kept = sorted({s for s in shorts if s <= source_short}, reverse=True) or [source_short - source_short % 2]
    rungs = []
    for short in kept:
        if width >= height:
            size = (rescale(short, width, height), short)
        else:
            size = (short, rescale(short, height, width))
        rate = next((r for side, r in sorted(HLS_MAXRATE_KBPS.items()) if short <= side), 16000)
        rungs.append(Rendition(size[0], size[1], rate))
    return rungs


def hls_args(
    source: str,
    filters: list[str],
    rungs: list[Rendition],
    *,
    video: list[str],
    upload: str | None,
    quality: Quality,
    audio: str | None,
    segments: str,
    segment_s: float,
    out_dir: Path,
) -> list[str]:
    """One pass from `source` to every rendition of `rungs` (a split per rendition), written under
    `out_dir` as HLS VOD playlists plus a master playlist (`-master_pl_name`, `-var_stream_map`).

    `audio` is the audio pad (`0:a:0`) or None; each rendition carries its own copy, so that a player
    switching renditions never loses the sound. Segments are cut at the 2 s keyframes. `video` encodes
    every rendition (`hardware.planned_video_args`); `upload` ends each branch (a VAAPI upload).
    """
    n = len(rungs)
    split = f"split={n}" + "".join(f"[hls_s{i}]" for i in range(n))
    graph = [f"[{source}]{','.join(filters)}[{BASE_LABEL}];[{BASE_LABEL}]{split}"]
    tail = f",{upload}" if upload else ""
    graph += [f"[hls_s{i}]scale={r.width}:{r.height}{tail}[hls_v{i}]" for i, r in enumerate(rungs)]
    args = ["-filter_complex", ";".join(graph)]
    for i in range(n):
        args += ["-map", f"[hls_v{i}]"] + (["-map", audio] if audio else [])
    args += video
    for i, r in enumerate(rungs):
        args += [f"-maxrate:v:{i}", f"{r.maxrate_kbps}k", f"-bufsize:v:{i}", f"{r.maxrate_kbps * 2}k"]
    if audio:
        args += ["-c:a", "aac", "-b:a", AUDIO_BITRATE[quality]]
    # `%v` in the file names below is each variant's `name:`, its size (stream_720p).
    streams = " ".join(
        (f"v:{i},a:{i}" if audio else f"v:{i}") + f",name:{r.playlist.removesuffix('.m3u8')}"
        for i, r in enumerate(rungs)
    )
    ext = "m4s" if segments == "fmp4" else "ts"
    args += [
        "-f", "hls", "-hls_time", f"{segment_s:g}", "-hls_playlist_type", "vod", "-hls_list_size", "0",
        "-hls_segment_type", "fmp4" if segments == "fmp4" else "mpegts",
        "-hls_segment_filename", str(out_dir / f"%v_%03d.{ext}"),
        "-master_pl_name", HLS_MASTER, "-var_stream_map", streams, "-map_metadata", "-1",
    ]  # fmt: skip
    if segments == "fmp4":
        # ffmpeg expands `%v` in the init segment's name only when there are several variants.
        init = "%v_init.mp4" if n > 1 else f"{rungs[0].playlist.removesuffix('.m3u8')}_init.mp4"
        args += ["-hls_fmp4_init_filename", init]
    return [*args, str(out_dir / "%v.m3u8")]


def stream_content_type(name: str) -> str:
    """The MIME type of a file of an HLS folder, by its extension."""
    ext = name.rsplit(".", 1)[-1]
    return {"m3u8": "application/vnd.apple.mpegurl", "m4s": "video/iso.segment", "ts": "video/mp2t"}.get(
        ext, "video/mp4"
    )


def read_master(text: str) -> list[dict[str, Any]]:
    """The renditions a master playlist lists, in its order: playlist, width, height, bandwidth (bits/s)."""
    out: list[dict[str, Any]] = []
    attrs: dict[str, str] | None = None
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(_ATTR.findall(line.split(":", 1)[1]))
        elif line and not line.startswith("#") and attrs is not None:
            width, _, height = attrs.get("RESOLUTION", "0x0").partition("x")
            out.append(
                {
                    "playlist": line,
                    "width": int(width),
                    "height": int(height),
                    "bandwidth": int(attrs.get("BANDWIDTH", 0)),
                }
            )
            attrs = None
    return out


def read_playlist_s(text: str) -> float:
    """The length of a media playlist: the sum of its segments' EXTINF durations."""
    return round(sum(float(line[8:].split(",")[0]) for line in text.splitlines() if line.startswith("#EXTINF:")), 3)


def playlist_files(text: str) -> list[str]:
    """The files a media playlist names, in order: its init segment (EXT-X-MAP), then every segment."""
    names = []
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("#EXT-X-MAP:"):
            names.append(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#"):
            names.append(line)
    return names


def join_rendition(master: Path, dest: Path) -> Path:
    """The first (largest) rendition of an HLS output as one file (init segment, then every segment in
    order): fragmented MP4 and MPEG-TS segments concatenate into a valid file, for frame scans that
    read ordinary files only."""
    playlist = master.parent / read_master(master.read_text(encoding="utf-8"))[0]["playlist"]
    names = playlist_files(playlist.read_text(encoding="utf-8"))
    with dest.open("wb") as out:
        for name in names:
            out.write((master.parent / name).read_bytes())
    return dest
