"""`edit/audio`: background music, ducking under speech, text-to-speech narration, loudness normalisation.

One ffmpeg pass: the video stream is copied when the output container can hold it (else re-encoded),
and one audio filtergraph mixes the original sound, the music and the narrations, lowers the music
while someone speaks (sidechain compression), normalises loudness, and cuts the result to exactly the
video's length. Planning is pure; text-to-speech is a `before` command planned by `tts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from videoapi.assets.schemas import InputRef
from videoapi.editing import tts
from videoapi.editing.schemas import Seconds
from videoapi.editing.source import Source
from videoapi.errors import InvalidRequest
from videoapi.media.encoding import (
    AUDIO_BITRATE,
    CONTENT_TYPES,
    Format,
    Quality,
    container_flags,
    encode_args,
    poster_args,
)
from videoapi.media.plan import Expected, Plan
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import input_args
from videoapi.outputs.schemas import CommonOptions
from videoapi.settings import Settings

SAMPLE_RATE = 48000
MAX_NARRATIONS = 20
MAX_LOOPED_SEGMENT_S = 300.0
"""A music segment cut with in_s/out_s is looped from memory (aloop): bounded to keep that memory small."""
# Video codecs each output container takes as they are (no re-encode).
COPY_VIDEO = {"mp4": frozenset({"h264", "hevc"}), "webm": frozenset({"vp8", "vp9", "av1"})}
_EPS_S = 1e-3
_FORMAT = f"aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
# Sample counts (atrim end_sample, apad whole_len) hold only at 48 kHz. loudnorm takes 192 kHz, and format
# negotiation carries that rate back up through every filter that accepts any rate (amix, asplit,
# sidechaincompress, atrim), so a count of 48 kHz samples cut the ducked mix at a quarter of its length.
# Pinning the rate before the final cut keeps the resampler ffmpeg inserts right in front of loudnorm.
_PIN = f"aformat=sample_rates={SAMPLE_RATE}"

Volume = Annotated[
    float, Meta(ge=0, le=8, description="linear gain: 1 keeps the level, 0.5 is about -6 dB, 2 about +6 dB, 0 silent")
]
FadeSeconds = Annotated[float, Meta(ge=0, le=600)]


class Music(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Background music under the video."""

    input: InputRef
    volume: Volume = 1.0
    start_s: Seconds = 0.0
    """When the music starts in the output."""
    in_s: Seconds = 0.0
    """Where to start reading the music file."""
    out_s: Seconds | None = None
    """Where to stop reading the music file (default: its end)."""
    fade_in_s: FadeSeconds = 0.0
    fade_out_s: FadeSeconds = 0.0
    """Fade out ending where the music ends: at the end of the video when it loops or runs past it."""
    loop: bool = True
    """Repeat the music (the in_s..out_s segment) until the video ends."""


class Narration(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A voice over: `text` spoken by text-to-speech (espeak-ng or a neural voice), or a recording as `input`."""

    text: str | None = None
    input: InputRef | None = None
    voice: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    """A neural voice of the registry (GET /v1/video/models, `voices`: e.g. mms-eng, vits-cmn), or an
    espeak-ng language as `espeak:<language>` or bare: en, en-us, en-gb, zh / cmn (Mandarin), yue, ja, fr,
    de, es, ... (default en, espeak-ng)."""
    variant: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    """espeak-ng voice variant, e.g. f3 (female), m3, klatt, whisper (espeak-ng voices only)."""
    rate_wpm: Annotated[int, Meta(ge=tts.RATE_WPM[0], le=tts.RATE_WPM[1])] | None = None
    """Speaking rate in words per minute (default 175); a neural voice speaks at rate_wpm/175 of its own pace."""
    pitch: Annotated[int, Meta(ge=tts.PITCH[0], le=tts.PITCH[1])] | None = None
    """0..99 (default 50; espeak-ng voices only)."""
    start_s: Seconds = 0.0
    """When the narration starts in the output."""
    volume: Volume = 1.0


class Ducking(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Lower the music while someone speaks (sidechain compression keyed by the speech)."""

    trigger: Literal["auto", "narration", "original", "both"] = "auto"
    """Which speech lowers the music; `auto`: the narration if there is one, else the original sound."""
    threshold_db: Annotated[float, Meta(ge=-60, le=0)] = -30.0
    """Speech level (dBFS) above which the music is lowered."""
    ratio: Annotated[float, Meta(ge=1, le=20)] = 8.0
    attack_ms: Annotated[float, Meta(ge=0.01, le=2000)] = 20.0
    release_ms: Annotated[float, Meta(ge=0.01, le=9000)] = 400.0


class Loudness(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """EBU R128 loudness normalisation (ffmpeg loudnorm, single pass)."""

    target_lufs: Annotated[float, Meta(ge=-70, le=-5)] = -16.0
    """Integrated loudness; -16 suits the web and mobile, -23 broadcast (EBU R128), -14 streaming platforms."""
    true_peak_db: Annotated[float, Meta(ge=-9, le=0)] = -1.5
    lra: Annotated[float, Meta(ge=1, le=50)] = 11.0
    """Loudness range target in LU."""


class AudioRequest(CommonOptions, forbid_unknown_fields=True, kw_only=True):
    """Add background music (volume, fades, loop), narration (text-to-speech or a recording), ducking of the
    music under speech, and loudness normalisation to a video. The output lasts exactly as long as the video;
    the video stream is copied when the container allows it."""

    input: InputRef
    music: Music | None = None
    narration: Annotated[list[Narration], Meta(max_length=MAX_NARRATIONS)] = []
    ducking: bool | Ducking = False
    """`true` for the defaults, or the compressor's settings."""
    original_volume: Volume = 1.0
    """Gain of the video's own sound; 0 mutes it."""
    normalize: bool | Loudness = False
    """`true` for -16 LUFS (web), or a target."""
    format: Format = "mp4"
    quality: Quality = "medium"
    """Audio bitrate, and the video encoding when the video must be re-encoded for the container."""


def audio_inputs(req: AudioRequest) -> list[InputRef]:
    """The media inputs in planning order: the video, the music, then each recorded narration."""
    refs = [req.input]
    if req.music is not None:
        refs.append(req.music.input)
    refs += [n.input for n in req.narration if n.input is not None]
    return refs


def check_audio(req: AudioRequest, settings: Settings) -> None:
    """The checks that need no probe (inputs given as URLs are probed by the worker)."""
    _check_static(req, settings)
    for i, n in enumerate(req.narration):
        if n.text is not None:
            tts.check_narration(n.text, n.voice, n.variant, n.pitch, f"narration[{i}]", settings)


def plan_audio(req: AudioRequest, sources: Sequence[Source], out_dir: Path, settings: Settings) -> Plan:
    """Plan the one ffmpeg pass of an audio edit; raises InvalidRequest for a request that cannot work."""
    _check_static(req, settings)
    video = sources[0].media
    if video.video is None or video.is_image:
        raise _invalid("input", "the input has no video to add sound to", code="input_not_video")
    duration_s = video.duration_s
    if duration_s <= 0:
        raise _invalid("input", "the input video has no duration", code="input_unreadable")
    if duration_s > settings.editing.max_timeline_s:
        limit = settings.editing.max_timeline_s
        raise _invalid(
            "input",
            f"the video lasts {duration_s:.3f} s; at most {limit:g} s (editing.max_timeline_s)",
            "limit_exceeded",
        )
    total = round(duration_s * SAMPLE_RATE)
    graph = _Graph()
    graph.inputs.append(input_args(sources[0].path))
    rest = iter(sources[1:])

    original = None
    if video.audio is not None and req.original_volume > 0:
        original = graph.chain("0:a:0", [_FORMAT, f"volume={_num(req.original_volume)}"], "orig")

    music = None
    audible_until_s = 0.0
    if req.music is not None:
        music, music_end_s = _music(req.music, next(rest), duration_s, graph)
        if req.music.volume > 0:
            audible_until_s = music_end_s

    files: dict[Path, str] = {}
    before: list[list[str]] = []
    jobs: list[tts.Job] = []
    narrations = []
    for i, n in enumerate(req.narration):
        field = f"narration[{i}]"
        _check_start(n.start_s, duration_s, f"{field}.start_s")
        if n.text is not None:
            speech = tts.plan_narration(
                n.text,
                voice=n.voice,
                variant=n.variant,
                rate_wpm=n.rate_wpm,
                pitch=n.pitch,
                field=field,
                settings=settings,
                out_dir=out_dir,
                name=f"narration{i}",
            )
            files[speech.text_file] = speech.text
            if speech.job is not None:
                jobs.append(speech.job)
            else:
                before.append(speech.argv)
            index = graph.add_input(input_args(speech.wav))
        else:
            source = next(rest)
            _require_audio(source.media, f"{field}.input", "narration")
            index = graph.add_input(input_args(source.path))
        filters = [_FORMAT, f"volume={_num(n.volume)}", *_delay(n.start_s)]
        narrations.append(graph.chain(f"{index}:a:0", filters, f"n{i}"))
        if n.volume > 0:
            audible_until_s = max(audible_until_s, n.start_s)

    if jobs:
        manifest, content, argv = tts.synthesis_command(jobs, out_dir, settings)
        files[manifest] = content
        before.append(argv)

    mix = [label for label in (original, music) if label]
    mix += narrations
    if req.ducking is not False and music is not None:
        ducking = req.ducking if isinstance(req.ducking, Ducking) else Ducking()
        mix = _duck(ducking, music, original, narrations, total, graph)

    if mix:
        tail = [_PIN, f"atrim=end_sample={total}"]
        if req.normalize is not False:
            loud = req.normalize if isinstance(req.normalize, Loudness) else Loudness()
            # loudnorm works at 192 kHz and needs its whole input to end, hence before the final padding.
            tail += [
                f"loudnorm=I={_num(loud.target_lufs)}:TP={_num(loud.true_peak_db)}:LRA={_num(loud.lra)}",
                f"aresample={SAMPLE_RATE}",
            ]
        mixed = mix[0] if len(mix) == 1 else graph.mix(mix, "mix")
        graph.chain(mixed, [*tail, f"apad=whole_len={total}", f"atrim=end_sample={total}"], "aout")
    else:
        # Nothing audible: the output still gets a silent track of the video's length.
        graph.source(f"anullsrc=r={SAMPLE_RATE}:cl=stereo,atrim=end_sample={total}", "aout")

    container = req.format
    out = out_dir / f"output.{container}"
    args = [a for opts in graph.inputs for a in opts]
    args += ["-filter_complex", ";".join(graph.statements), "-map", "0:v:0", "-map", "[aout]"]
    args += _codec_args(video, container, req.quality)
    args += container_flags(container, out)
    poster = out_dir / "poster.jpg"
    return Plan(
        [*args, *poster_args(poster)],
        out,
        poster,
        CONTENT_TYPES[container],
        duration_s,
        files=files,
        before=before,
        expect=_expected(video, container, duration_s, audible_until_s),
    )


def _expected(video: MediaInfo, container: Format, duration_s: float, audible_until_s: float) -> Expected:
    """Both streams last the video's length; the music and narrations are heard until they end."""
    assert video.video is not None
    copied = video.video.codec in COPY_VIDEO[container]
    return Expected(
        video_s=duration_s,
        audio_s=duration_s,
        audible_until_s=audible_until_s or None,
        video_codec=video.video.codec if copied else None,
        audio_codec="aac" if container == "mp4" else "opus",
        frame_s=1 / video.video.fps if video.video.fps else 0.04,
    )


class _Graph:
    """Inputs and filtergraph statements being built; labels are ours, never user text."""

    def __init__(self) -> None:
        self.inputs: list[list[str]] = []
        self.statements: list[str] = []

    def add_input(self, opts: list[str]) -> int:
        self.inputs.append(opts)
        return len(self.inputs) - 1

    def chain(self, src: str, filters: list[str], label: str) -> str:
        self.statements.append(f"[{src}]{','.join(filters)}[{label}]")
        return label

    def source(self, filters: str, label: str) -> str:
        self.statements.append(f"{filters}[{label}]")
        return label

    def mix(self, labels: list[str], label: str, *, duration: str = "longest") -> str:
        ins = "".join(f"[{x}]" for x in labels)
        # normalize=0: every input keeps its own volume instead of being scaled by 1/n.
        self.statements.append(f"{ins}amix=inputs={len(labels)}:duration={duration}:normalize=0[{label}]")
        return label

    def split(self, label: str) -> tuple[str, str]:
        self.statements.append(f"[{label}]asplit=2[{label}_mix][{label}_key]")
        return f"{label}_mix", f"{label}_key"


def _music(music: Music, source: Source, duration_s: float, graph: _Graph) -> tuple[str, float]:
    """The music's chain; returns its label and when it stops being heard (where its fade-out begins)."""
    _require_audio(source.media, "music.input", "music")
    _check_start(music.start_s, duration_s, "music.start_s")
    length_s = source.media.duration_s
    if music.in_s >= length_s:
        raise _invalid("music.in_s", f"in_s ({music.in_s:g}) is past the end of the music ({length_s:.3f} s)")
    out_s = length_s if music.out_s is None else music.out_s
    if out_s > length_s + _EPS_S:
        raise _invalid("music.out_s", f"out_s ({out_s:g}) is past the end of the music ({length_s:.3f} s)")
    segment_s = min(out_s, length_s) - music.in_s
    room_s = duration_s - music.start_s
    loops = music.loop and segment_s < room_s - _EPS_S
    play_s = room_s if loops else min(segment_s, room_s)
    if music.fade_in_s + music.fade_out_s > play_s + _EPS_S:
        raise _invalid(
            "music.fade_out_s",
            f"the fades ({music.fade_in_s:g} s + {music.fade_out_s:g} s) last longer than the music plays "
            f"({play_s:.3f} s)",
        )
    play = round(play_s * SAMPLE_RATE)
    trimmed = music.in_s > 0 or music.out_s is not None
    opts = input_args(source.path)
    if loops and not trimmed:
        # The demuxer loops the whole file: nothing is held in memory.
        index = graph.add_input(["-stream_loop", "-1", *opts])
        filters = [_FORMAT, f"atrim=end_sample={play}"]
    else:
        index = graph.add_input(opts)
        filters = [
            f"atrim=start={_num(music.in_s)}:end={_num(music.in_s + segment_s)}",
            "asetpts=PTS-STARTPTS",
            _FORMAT,
        ]
        if loops:
            if segment_s > MAX_LOOPED_SEGMENT_S:
                raise _invalid(
                    "music.out_s",
                    f"a music segment cut with in_s/out_s loops from memory, so it may last at most "
                    f"{MAX_LOOPED_SEGMENT_S:g} s (this one: {segment_s:.1f} s); loop the whole file instead",
                )
            filters.append(f"aloop=loop=-1:size={round(segment_s * SAMPLE_RATE)}")
        filters.append(f"atrim=end_sample={play}")
    if music.fade_in_s > 0:
        filters.append(f"afade=t=in:st=0:d={_num(music.fade_in_s)}")
    if music.fade_out_s > 0:
        filters.append(f"afade=t=out:st={_num(play_s - music.fade_out_s)}:d={_num(music.fade_out_s)}")
    filters += [f"volume={_num(music.volume)}", *_delay(music.start_s)]
    return graph.chain(f"{index}:a:0", filters, "music"), music.start_s + play_s - music.fade_out_s


def _duck(
    ducking: Ducking, music: str, original: str | None, narrations: list[str], total: int, graph: _Graph
) -> list[str]:
    """Key a compressor on the music by the speech; returns the labels to mix (ducked music first)."""
    trigger = ducking.trigger
    if trigger == "auto":
        trigger = "narration" if narrations else "original"
    keys = []
    if trigger in ("narration", "both"):
        keys += narrations
    if trigger in ("original", "both") and original:
        keys.append(original)
    if not keys:
        what = {"narration": "there is no narration", "original": "the video's own sound is missing or muted"}
        raise _invalid(
            "ducking.trigger",
            f"nothing to duck the music under: {what.get(trigger, 'there is no narration and no original sound')}",
        )
    mix, sidechain = [], []
    for label in (original, *narrations):
        if label is None:
            continue
        if label in keys:
            heard, key = graph.split(label)
            mix.append(heard)
            sidechain.append(key)
        else:
            mix.append(label)
    key = sidechain[0] if len(sidechain) == 1 else graph.mix(sidechain, "speech")
    # sidechaincompress stops as soon as either input ends, dropping what it still buffers: both inputs
    # go on in silence, and the result is cut at the video's end.
    graph.chain(key, ["apad"], "key")
    graph.chain(music, ["apad"], "music_padded")
    threshold = 10 ** (ducking.threshold_db / 20)
    params = (
        f"threshold={_num(threshold)}:ratio={_num(ducking.ratio)}"
        f":attack={_num(ducking.attack_ms)}:release={_num(ducking.release_ms)}"
    )
    graph.statements.append(f"[music_padded][key]sidechaincompress={params},atrim=end_sample={total}[ducked]")
    return ["ducked", *mix]


def _codec_args(media: MediaInfo, container: Format, quality: Quality) -> list[str]:
    assert media.video is not None
    codec = media.video.codec
    if codec in COPY_VIDEO[container]:
        audio = ["-c:a", "aac"] if container == "mp4" else ["-c:a", "libopus"]
        tag = ["-tag:v", "hvc1"] if codec == "hevc" else []  # the tag Apple players need for HEVC in MP4
        return ["-c:v", "copy", *tag, *audio, "-b:a", AUDIO_BITRATE[quality]]
    # The container cannot hold this codec: re-encode (the encoder needs even sizes and 4:2:0).
    vf = "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p"
    return ["-vf", vf, *encode_args(container, quality)]


def _check_static(req: AudioRequest, settings: Settings) -> None:
    music = req.music
    if music is not None:
        if music.out_s is not None and music.out_s <= music.in_s:
            raise _invalid("music.out_s", f"out_s ({music.out_s:g}) must be greater than in_s ({music.in_s:g})")
    if req.ducking is not False and music is None:
        raise _invalid("ducking", "ducking lowers the music under speech: add `music`")
    for i, n in enumerate(req.narration):
        field = f"narration[{i}]"
        if (n.text is None) == (n.input is None):
            raise _invalid(field, "give exactly one of `text` (text-to-speech) or `input` (a recording)")
        if n.input is not None:
            for name in ("voice", "variant", "rate_wpm", "pitch"):
                if getattr(n, name) is not None:
                    raise _invalid(
                        f"{field}.{name}", f"`{name}` applies to text-to-speech; this narration is a recording"
                    )


def _require_audio(media: MediaInfo, field: str, what: str) -> None:
    if media.audio is None:
        raise _invalid(field, f"the {what} input has no audio stream", code="input_no_audio")


def _check_start(start_s: float, duration_s: float, field: str) -> None:
    if start_s >= duration_s:
        raise _invalid(
            field, f"starts at {start_s:g} s, after the video ends ({duration_s:.3f} s)", code="input_out_of_range"
        )


def _delay(start_s: float) -> list[str]:
    samples = round(start_s * SAMPLE_RATE)
    return [f"adelay=delays={samples}S:all=1"] if samples else []


def _invalid(field: str, message: str, code: str = "invalid_request") -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", code=code, errors=[{"field": field, "message": message}])


def _num(value: float) -> str:
    """A filter argument from a number: plain decimal, no exponent, nothing else."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
