"""Compile a validated timeline and its probed inputs into one ffmpeg pass (pure: nothing runs here).

The graph, bottom to top:
- every clip is normalised on its own branch: in/out points by input seeking (`-ss`/`-t`), speed,
  frame rate, size (fit into its box), SAR, pixel format, exact length in frames; its audio is
  resampled to 48 kHz stereo and padded or cut to the same length (silence for clips without
  audio), so that transitions and joins line up on both streams;
- clips joined by transitions form a chain (`xfade` + `acrossfade` at frame-exact offsets);
- the bottom track's chains are joined with background-coloured gaps by one `concat`; each later
  track's chains are `overlay`ed at their time and position, and text clips are `drawtext`ed, text
  read from files written by the job;
- audio clips and upper tracks' sound are delayed to their start and mixed over the bottom track's.
The result is encoded once; the poster is a second output of the same pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from videoapi.editing.source import Source
from videoapi.editing.timeline import (
    DIPS,
    XFADE,
    AudioClip,
    ColorClip,
    CompositeRequest,
    ImageClip,
    Layout,
    Placement,
    TextClip,
    VideoClip,
    source_refs,
    validate,
)
from videoapi.media.colors import parse_color
from videoapi.media.encoding import (
    CODECS,
    CONTENT_TYPES,
    POSTER_MAX_HEIGHT,
    audio_args,
    container_flags,
    encode_args,
    output_codec,
    output_codecs,
)
from videoapi.media.filters import ANCHORS, anchored, escape_value, fit, num, rate, safe_margins, yuv
from videoapi.media.hardware import planned_video_args
from videoapi.media.plan import Expected, Plan
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import input_args
from videoapi.settings import Settings

if TYPE_CHECKING:
    from videoapi.assets.schemas import InputRef

SAMPLE_RATE = 48000
AUDIO_FORMAT = f"aformat=sample_fmts=fltp:sample_rates={SAMPLE_RATE}:channel_layouts=stereo"
GRAPH_FILE = "filtergraph.txt"
POSTER_AT_S = 1.0
"""The poster is the frame at this time (or the middle of a shorter output), past most opening fades."""


def composite_inputs(req: CompositeRequest) -> list[InputRef]:
    """The distinct media sources of the timeline, in the order the planner's `sources` follow."""
    return source_refs(req)


def check_composite(req: CompositeRequest, settings: Settings) -> None:
    """Everything that can be checked before URL inputs are fetched and probed."""
    validate(req, settings, None)


def plan_composite(req: CompositeRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    """The one ffmpeg pass that renders `req`; `sources` follow `composite_inputs(req)`."""
    return compile_timeline(req, [s.path for s in sources], [s.media for s in sources], out_dir, settings)


def compile_timeline(
    req: CompositeRequest, paths: Sequence[Path], medias: Sequence[MediaInfo], out_dir: Path, settings: Settings
) -> Plan:
    layout = validate(req, settings, medias)
    assert layout is not None  # with every probe known, every length is known
    return _Compiler(req, layout, paths, medias, out_dir).plan()


@dataclass
class _Stream:
    video: str
    audio: str | None
    """None: the chain has no sound of its own (only possible above the bottom track)."""


@dataclass
class _Compiler:
    req: CompositeRequest
    layout: Layout
    paths: Sequence[Path]
    medias: Sequence[MediaInfo]
    out_dir: Path
    inputs: list[list[str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    files: dict[Path, str] = field(default_factory=dict)
    clip_inputs: dict[tuple[int, int], int] = field(default_factory=dict)
    """The ffmpeg input of each video or image clip, by (track, index)."""
    _labels: int = 0

    # ---- plumbing ---------------------------------------------------------------------------

    def label(self, kind: str) -> str:
        self._labels += 1
        return f"{kind}{self._labels}"

    def chain(self, sources: list[str], filters: list[str], kind: str) -> str:
        """Append `[in]...f1,f2,...[out]` to the graph and return the new label."""
        out = self.label(kind)
        self.lines.append("".join(f"[{s}]" for s in sources) + ",".join(filters) + f"[{out}]")
        return out

    def add_input(self, options: list[str], source: int) -> int:
        self.inputs.append([*options, *input_args(self.paths[source])])
        return len(self.inputs) - 1

    def seconds(self, frames: int) -> float:
        return frames / self.layout.fps

    def samples(self, frames: int) -> int:
        return round(frames * SAMPLE_RATE / self.layout.fps)

    # ---- the plan ---------------------------------------------------------------------------

    def plan(self) -> Plan:
        lay = self.layout
        mixes: list[str] = []
        base: _Stream | None = None
        for t, track in enumerate(lay.tracks):
            chains = _chains([p for p in track if isinstance(p.clip, VideoClip | ImageClip | ColorClip)])
            if t == 0:
                base = self.bottom_track(chains)
            else:
                assert base is not None
                for members in chains:
                    stream = self.chain_stream(members, on_top=True)
                    base.video = self.overlay(base.video, stream.video, members)
                    if stream.audio is not None:
                        mixes.append(self.chain([stream.audio], [self.delay(members[0].start_f)], "a"))
            assert base is not None
            for p in track:
                if isinstance(p.clip, TextClip):
                    base.video = self.text(base.video, p)
                elif isinstance(p.clip, AudioClip):
                    mixes.append(self.audio_clip(p))
        assert base is not None and base.audio is not None
        audio = base.audio
        if mixes:
            audio = self.chain(
                [audio, *mixes], [f"amix=inputs={len(mixes) + 1}:duration=first:normalize=0:dropout_transition=0"], "a"
            )
        poster_f = min(round(POSTER_AT_S * lay.fps), lay.total_f // 2)
        poster_scale = f"scale=-2:'min(ih,{POSTER_MAX_HEIGHT})':force_divisible_by=2"
        self.lines.append(
            f"[{base.video}]split=2[vout][vposter];"
            f"[vposter]trim=start_frame={poster_f}:end_frame={poster_f + 1},{poster_scale}[poster]"
        )
        self.lines.append(f"[{audio}]anull[aout]")
        out = self.req.output
        codec = output_codec(out.format, out.codec)
        head, video, upload = planned_video_args(out.encoder, codec, out.quality)
        vout = "vout"
        if upload:
            self.lines.append(f"[vout]{upload}[venc]")
            vout = "venc"
        graph_path = self.out_dir / GRAPH_FILE
        self.files[graph_path] = ";\n".join(self.lines) + "\n"

        output = self.out_dir / f"output.{out.format}"
        poster = self.out_dir / "poster.jpg"
        args = [*head, *(arg for opts in self.inputs for arg in opts)]
        args += ["-/filter_complex", str(graph_path), "-map", f"[{vout}]", "-map", "[aout]"]
        if out.encoder in ("auto", "software"):
            args += encode_args(out.format, out.quality, codec)
        else:
            args += [*video, *audio_args(out.format, out.quality)]
        args += ["-t", num(lay.duration_s), *container_flags(out.format, output)]
        args += ["-map", "[poster]", "-frames:v", "1", "-q:v", "4", "-f", "image2", "-update", "1", str(poster)]
        expect = Expected(
            video_s=lay.duration_s,
            size=(lay.width, lay.height),
            video_codec=output_codecs(out.format, codec)[0],
            audio_codec=output_codecs(out.format, codec)[1],
            pix_fmt=CODECS[codec].pix_fmt,
            frame_s=1 / lay.fps,
        )
        return Plan(args, output, poster, CONTENT_TYPES[out.format], lay.duration_s, files=self.files, expect=expect)

    # ---- tracks and chains ------------------------------------------------------------------

    def bottom_track(self, chains: list[list[Placement]]) -> _Stream:
        """The bottom layer: chains and background-coloured gaps, joined into the whole timeline."""
        segments: list[tuple[str, str]] = []
        at = 0
        for members in chains:
            if members[0].start_f > at:
                segments.append(self.gap(members[0].start_f - at))
            stream = self.chain_stream(members, on_top=False)
            assert stream.audio is not None
            segments.append((stream.video, stream.audio))
            at = members[-1].end_f
        if at < self.layout.total_f:
            segments.append(self.gap(self.layout.total_f - at))
        if len(segments) == 1:
            return _Stream(*segments[0])
        video, audio = self.label("v"), self.label("a")
        pads = "".join(f"[{v}][{a}]" for v, a in segments)
        self.lines.append(f"{pads}concat=n={len(segments)}:v=1:a=1[{video}][{audio}]")
        return _Stream(video, audio)

    def gap(self, frames: int) -> tuple[str, str]:
        lay = self.layout
        video = self.source(
            f"color=c={lay.background.ffmpeg}:s={lay.width}x{lay.height}:r={rate(lay.fps)}:"
            f"d={num(self.seconds(frames + 1))}",
            ["format=yuv420p", f"trim=end_frame={frames}"],
            "v",
        )
        return video, self.silence(frames)

    def source(self, generator: str, filters: list[str], kind: str) -> str:
        """A generated stream (colour, silence): a filter chain without input pads."""
        out = self.label(kind)
        self.lines.append(",".join([generator, *filters]) + f"[{out}]")
        return out

    def silence(self, frames: int) -> str:
        return self.source(
            f"anullsrc=r={SAMPLE_RATE}:cl=stereo", [AUDIO_FORMAT, f"atrim=end_sample={self.samples(frames)}"], "a"
        )

    def chain_stream(self, members: list[Placement], *, on_top: bool) -> _Stream:
        """Clips joined by transitions, as one stream of the chain's length (box-sized when on top)."""
        # Clips of one chain must share a size for xfade: upper-track chains of several clips are
        # padded (transparently) to their box; a lone upper clip keeps its fitted size.
        pad_box = not on_top or len(members) > 1
        videos = [
            self.visual(
                p, on_top=on_top, pad_box=pad_box, dips=self.dips(p, members[n + 1] if n + 1 < len(members) else None)
            )
            for n, p in enumerate(members)
        ]
        has_sound = not on_top or any(self.has_audio(p) for p in members)
        audios = [self.clip_audio(p) for p in members] if has_sound else []
        video = videos[0]
        audio = audios[0] if audios else None
        first = members[0].start_f
        for n, p in enumerate(members[1:], start=1):
            kind = XFADE[p.clip.transition.type]  # type: ignore[union-attr]
            video = self.chain(
                [video, videos[n]],
                [
                    f"xfade=transition={kind}:duration={num(self.seconds(p.transition_f))}:"
                    f"offset={num(self.seconds(p.start_f - first))}"
                ],
                "v",
            )
            if audio is not None:
                audio = self.chain(
                    [audio, audios[n]], [f"acrossfade=ns={self.samples(p.transition_f)}:c1=tri:c2=tri"], "a"
                )
        return _Stream(video, audio)

    def dips(self, p: Placement, following: Placement | None) -> list[str]:
        """Fades to and from the colour of `fade_black`/`fade_white` transitions, each over half the transition."""
        out = []
        transition = getattr(p.clip, "transition", None)
        if transition is not None and transition.type in DIPS:
            half = self.seconds(p.transition_f) / 2
            out.append(f"fade=t=in:st={num(half)}:d={num(half)}:color={parse_color(DIPS[transition.type]).ffmpeg}")
        transition = getattr(following.clip, "transition", None) if following is not None else None
        if following is not None and transition is not None and transition.type in DIPS:
            half = self.seconds(following.transition_f) / 2
            start = self.seconds(p.length_f - following.transition_f)
            color = parse_color(DIPS[transition.type]).ffmpeg
            out.append(f"fade=t=out:st={num(start)}:d={num(half)}:color={color}")
        return out

    def has_audio(self, p: Placement) -> bool:
        if not isinstance(p.clip, VideoClip) or p.clip.volume == 0:
            return False
        assert p.source is not None
        return self.medias[p.source].audio is not None

    # ---- one clip ---------------------------------------------------------------------------

    def box(self, p: Placement) -> tuple[int, int]:
        lay = self.layout
        scale = p.clip.scale  # type: ignore[union-attr]
        if scale >= 1:
            return lay.width, lay.height
        return max(2, round(lay.width * scale) // 2 * 2), max(2, round(lay.height * scale) // 2 * 2)

    def visual(self, p: Placement, *, on_top: bool, pad_box: bool, dips: list[str]) -> str:
        """One video, image or colour clip: its frames, fitted, on the output's grid, exactly its length."""
        clip = p.clip
        assert isinstance(clip, VideoClip | ImageClip | ColorClip)
        lay = self.layout
        bw, bh = self.box(p)
        frames = p.length_f
        length_s = self.seconds(frames)
        fmt = "yuva420p" if on_top else "yuv420p"
        # Letterbox bars: transparent above the bottom track, the background colour on it.
        pad_color = "black@0" if on_top else lay.background.ffmpeg
        full = (bw, bh) == (lay.width, lay.height)
        if isinstance(clip, ColorClip):
            head = f"color=c={parse_color(clip.color).ffmpeg}:s={bw}x{bh}:r={rate(lay.fps)}:d={num(length_s + 1)},"
            filters = [f"format={fmt}", f"trim=end_frame={frames}"]
            if not on_top and not full:
                filters.insert(0, self.place(clip, pad_color))
        else:
            assert p.source is not None
            media = self.medias[p.source]
            assert media.video is not None
            filters = []
            if isinstance(clip, VideoClip):
                options = ["-ss", num(p.src_start_s)] if p.src_start_s > 0 else []
                k = self.add_input([*options, "-t", num(p.src_length_s)], p.source)
                filters.append(f"setpts=(PTS-STARTPTS)/{num(clip.speed)}" if clip.speed != 1 else "setpts=PTS-STARTPTS")
                # Drop surplus frames before scaling them; duplicate missing ones after.
                fps_first = (media.video.fps or lay.fps) * clip.speed > lay.fps
                if fps_first:
                    filters.append(f"fps={rate(lay.fps)}")
            else:
                # A video as an image clip gives its first frame; a second of it is all that is read.
                k = self.add_input([] if media.is_image else ["-t", "1"], p.source)
                if not media.is_image:
                    filters.append("trim=end_frame=1")
                fps_first = False
            self.clip_inputs[(p.track, p.index)] = k
            head = f"[{k}:v:0]"
            filters += fit(clip.fit, bw, bh)
            if clip.fit == "contain" and pad_box and not full:
                filters.append(f"pad={bw}:{bh}:(ow-iw)/2:(oh-ih)/2:color={pad_color}")
            if not on_top and (clip.fit == "contain" or not full):
                filters.append(self.place(clip, pad_color))
            filters.append("setsar=1")
            if isinstance(clip, ImageClip):
                # One decoded picture, scaled once, then cloned (cheap references) for the clip's length.
                # Cloned before `fps`: the picture lasts one frame of the demuxer's 25 fps, and `fps` at a
                # lower rate drops a lone frame that short, so the clip would vanish.
                filters += [
                    f"format={fmt}",
                    f"tpad=stop_mode=clone:stop_duration={num(length_s + 1)}",
                    f"fps={rate(lay.fps)}",
                    f"trim=end_frame={frames}",
                ]
            else:
                if not fps_first:
                    filters.append(f"fps={rate(lay.fps)}")
                # A source whose video ends a little before its container (audio longer) holds its last frame.
                filters += [
                    f"format={fmt}",
                    f"tpad=stop_mode=clone:stop_duration={num(length_s)}",
                    f"trim=end_frame={frames}",
                ]
        filters += self.opacity(clip.opacity, on_top)
        filters += self.fades(clip.fade_in_s, clip.fade_out_s, length_s, on_top)
        filters += dips
        out = self.label("v")
        self.lines.append(head + ",".join(filters) + f"[{out}]")
        return out

    def place(self, clip: VideoClip | ImageClip | ColorClip, color: str) -> str:
        """Pad a bottom-track picture to the whole frame at its anchor (kept inside the frame)."""
        ax, ay = ANCHORS[clip.position]
        x, y = anchored(ax, ay, clip.x, clip.y, "ow-iw", "oh-ih")
        lay = self.layout
        return f"pad={lay.width}:{lay.height}:'clip({x},0,ow-iw)':'clip({y},0,oh-ih)':color={color}"

    def opacity(self, opacity: float, on_top: bool) -> list[str]:
        if opacity >= 1:
            return []
        if on_top:
            return [f"lut=a=val*{num(opacity)}"]
        # The bottom track blends with the background colour: one look-up table per plane.
        bg = yuv(*self.layout.background.rgb)
        keep = num(opacity)
        return [f"lutyuv=y=val*{keep}+{num(bg[0] * (1 - opacity))}:u=val*{keep}+{num(bg[1] * (1 - opacity))}"
                f":v=val*{keep}+{num(bg[2] * (1 - opacity))}"]  # fmt: skip

    def fades(self, fade_in: float, fade_out: float, length_s: float, on_top: bool) -> list[str]:
        # On the bottom track a clip fades from and to the background colour; above, to transparent.
        tail = ":alpha=1" if on_top else f":color={self.layout.background.ffmpeg}"
        out = []
        if fade_in > 0:
            out.append(f"fade=t=in:st=0:d={num(fade_in)}{tail}")
        if fade_out > 0:
            out.append(f"fade=t=out:st={num(length_s - fade_out)}:d={num(fade_out)}{tail}")
        return out

    def clip_audio(self, p: Placement) -> str:
        """The sound of a visual clip, exactly as long as its frames: its own audio or silence."""
        if not self.has_audio(p):
            return self.silence(p.length_f)
        clip = p.clip
        assert isinstance(clip, VideoClip)
        k = self.clip_inputs[(p.track, p.index)]
        filters = ["asetpts=PTS-STARTPTS", *_atempo(clip.speed), f"aresample={SAMPLE_RATE}", AUDIO_FORMAT]
        if clip.volume != 1:
            filters.append(f"volume={num(clip.volume)}")
        filters += self.exact_length(p.length_f)
        filters += _afades(clip.fade_in_s, clip.fade_out_s, self.seconds(p.length_f))
        return self.chain([f"{k}:a:0"], filters, "a")

    def exact_length(self, frames: int) -> list[str]:
        return [f"apad=whole_dur={num(self.seconds(frames))}", f"atrim=end_sample={self.samples(frames)}"]

    def delay(self, start_f: int) -> str:
        return f"adelay=delays={self.samples(start_f)}S:all=1"

    def overlay(self, under: str, over: str, members: list[Placement]) -> str:
        """Put an upper track's chain over the layers below, at its time and position."""
        first = members[0]
        clip = first.clip
        assert isinstance(clip, VideoClip | ImageClip | ColorClip)
        shifted = self.chain([over], [f"setpts=PTS+{num(self.seconds(first.start_f))}/TB"], "v")
        ax, ay = ANCHORS[clip.position]
        x, y = anchored(ax, ay, clip.x, clip.y, "main_w-overlay_w", "main_h-overlay_h")
        return self.chain(
            [under, shifted],
            [f"overlay=x='{x}':y='{y}':eof_action=pass:enable='{self.between(first, members[-1])}'"],
            "v",
        )

    def between(self, first: Placement, last: Placement) -> str:
        """An `enable` expression true on exactly the frames first.start_f .. last.end_f - 1.

        Half a frame either side, so that frame timestamps a rounding error away still count.
        """
        half = 0.5 / self.layout.fps
        return f"between(t,{num(self.seconds(first.start_f) - half)},{num(self.seconds(last.end_f) - half)})"

    def text(self, under: str, p: Placement) -> str:
        """drawtext with the user's text read from a file: no user text in the graph."""
        clip = p.clip
        assert isinstance(clip, TextClip)
        lay = self.layout
        font = lay.fonts[(p.track, p.index)]
        text_file = self.out_dir / f"text-{p.track}-{p.index}.txt"
        self.files[text_file] = clip.text
        size = clip.size or max(8, round(lay.height / 18))
        pad = clip.box_padding if clip.box_color else 0
        ax, ay = ANCHORS[clip.position]
        # The box is drawn `pad` around the text, so the margin is kept from the box's edge.
        safe_x, safe_y = (clip.margin, clip.margin) if clip.margin is not None else safe_margins(lay.width, lay.height)
        x, y = anchored(ax, ay, clip.x, clip.y, "w-text_w", "h-text_h", margin=safe_x + pad, margin_y=safe_y + pad)
        start_s, end_s = self.seconds(p.start_f), self.seconds(p.end_f)
        opts = [
            f"fontfile={escape_value(str(font.path))}",
            f"textfile={escape_value(str(text_file))}",
            "expansion=none",
            f"fontsize={size}",
            f"fontcolor={parse_color(clip.color).ffmpeg}",
            f"text_align={'LCR'[int(ax * 2)]}",
            f"x='{x}'",
            f"y='{y}'",
        ]
        if clip.outline_width:
            opts += [f"borderw={clip.outline_width}", f"bordercolor={parse_color(clip.outline_color).ffmpeg}"]
        if clip.box_color:
            opts += ["box=1", f"boxcolor={parse_color(clip.box_color).ffmpeg}", f"boxborderw={pad}"]
        opts.append(f"enable='{self.between(p, p)}'")
        if clip.fade_in_s or clip.fade_out_s:
            opts.append(f"alpha='{_alpha(start_s, end_s, clip.fade_in_s, clip.fade_out_s)}'")
        return self.chain([under], ["drawtext=" + ":".join(opts)], "v")

    def audio_clip(self, p: Placement) -> str:
        """Music or voice: trimmed by input seeking, looped if asked, at its volume, delayed to its start."""
        clip = p.clip
        assert isinstance(clip, AudioClip) and p.source is not None
        length_s = self.seconds(p.length_f)
        read_s = p.src_length_s if clip.loop else min(p.src_length_s, length_s)
        options = ["-ss", num(p.src_start_s)] if p.src_start_s > 0 else []
        k = self.add_input([*options, "-t", num(read_s)], p.source)
        filters = ["asetpts=PTS-STARTPTS", f"aresample={SAMPLE_RATE}", AUDIO_FORMAT]
        if clip.loop:
            filters.append(f"aloop=loop=-1:size={round(read_s * SAMPLE_RATE)}")
        if clip.volume != 1:
            filters.append(f"volume={num(clip.volume)}")
        filters += self.exact_length(p.length_f)
        filters += _afades(clip.fade_in_s, clip.fade_out_s, length_s)
        if p.start_f:
            filters.append(self.delay(p.start_f))
        return self.chain([f"{k}:a:0"], filters, "a")


def _chains(placements: list[Placement]) -> list[list[Placement]]:
    """Group a track's visual clips into runs joined by transitions."""
    chains: list[list[Placement]] = []
    for p in placements:
        if chains and p.transition_f and chains[-1][-1].index == p.index - 1:
            chains[-1].append(p)
        else:
            chains.append([p])
    return chains


def _atempo(speed: float) -> list[str]:
    """atempo takes 0.5..100 per instance: chain two for slower speeds."""
    if speed == 1:
        return []
    if speed < 0.5:
        return ["atempo=0.5", f"atempo={num(speed / 0.5)}"]
    return [f"atempo={num(speed)}"]


def _afades(fade_in: float, fade_out: float, length_s: float) -> list[str]:
    out = []
    if fade_in > 0:
        out.append(f"afade=t=in:st=0:d={num(fade_in)}")
    if fade_out > 0:
        out.append(f"afade=t=out:st={num(length_s - fade_out)}:d={num(fade_out)}")
    return out


def _alpha(start: float, end: float, fade_in: float, fade_out: float) -> str:
    a, b = num(start), num(end)
    rise = f"(t-{a})/{num(fade_in)}" if fade_in else "1"
    fall = f"({b}-t)/{num(fade_out)}" if fade_out else "1"
    return f"max(0,min(1,min({rise},{fall})))"
