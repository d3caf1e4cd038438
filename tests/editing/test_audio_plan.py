"""The audio planner is pure: these read the ffmpeg arguments and the filtergraph without running anything."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from videoapi.assets.schemas import InputRef
from videoapi.editing.audio import AudioRequest, audio_inputs, check_audio, plan_audio
from videoapi.editing.kinds import KINDS, Source
from videoapi.errors import InvalidRequest
from videoapi.media.plan import Plan
from videoapi.media.probe import AudioInfo, MediaInfo, VideoInfo
from videoapi.settings import Settings, load_settings

OUT = Path("/work/out")
VIDEO = Path("/work/video.mp4")
MUSIC = Path("/work/music.m4a")
VOICE = Path("/work/voice.wav")
SETTINGS = load_settings(environ={})


def video(
    duration_s: float = 10.0, codec: str = "h264", audio: bool = True, is_image: bool = False, fmt: str = "mov,mp4"
) -> MediaInfo:
    return MediaInfo(
        format_name=fmt,
        duration_s=duration_s,
        size_bytes=1000,
        bit_rate=None,
        video=VideoInfo(codec=codec, width=320, height=240, fps=25.0, rotation=0, pix_fmt="yuv420p", bit_depth=8),
        audio=AudioInfo(codec="aac", sample_rate=44100, channels=2) if audio else None,
        is_image=is_image,
    )


def sound(duration_s: float = 4.0, audio: bool = True) -> MediaInfo:
    return MediaInfo(
        format_name="wav",
        duration_s=duration_s,
        size_bytes=1000,
        bit_rate=None,
        video=None
        if audio
        else VideoInfo(codec="h264", width=8, height=8, fps=25, rotation=0, pix_fmt="yuv420p", bit_depth=8),
        audio=AudioInfo(codec="pcm_s16le", sample_rate=22050, channels=1) if audio else None,
        is_image=False,
    )


def request(**kw: Any) -> AudioRequest:
    return msgspec.convert({"input": {"asset_id": "v"}, **kw}, AudioRequest)


def plan(req: AudioRequest, *medias: MediaInfo, settings: Settings = SETTINGS) -> Plan:
    """Plan with the video (default 10 s with sound) and then the other inputs in `audio_inputs` order."""
    paths = [VIDEO, MUSIC, VOICE, VOICE, VOICE]
    all_media = medias or (video(),)
    return plan_audio(req, [Source(p, m) for p, m in zip(paths, all_media, strict=False)], OUT, settings)


def graph(p: Plan) -> str:
    return p.args[p.args.index("-filter_complex") + 1]


def statement(p: Plan, label: str) -> str:
    """The filtergraph statement whose output is `[label]`."""
    return next(s for s in graph(p).split(";") if s.endswith(f"[{label}]"))


def input_files(p: Plan) -> list[str]:
    return [p.args[i + 1] for i, a in enumerate(p.args) if a == "-i"]


def value_after(args: list[str], flag: str, nth: int = 0) -> str:
    return [args[i + 1] for i, a in enumerate(args) if a == flag][nth]


def invalid(req: AudioRequest, *medias: MediaInfo, **kw: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as exc:
        plan(req, *medias, **kw)
    return exc.value


MUSIC_REF = {"asset_id": "m"}


# ---- the output -----------------------------------------------------------------------------------------


def test_registered_as_edit_audio_with_its_inputs_in_order() -> None:
    spec = KINDS["edit.audio"]
    assert spec.path == "audio" and spec.request_type is AudioRequest
    req = request(
        music={"input": MUSIC_REF},
        narration=[{"text": "hi"}, {"input": {"asset_id": "n1"}}, {"input": {"url": "https://x.test/n2.wav"}}],
    )
    assert spec.inputs(req) == audio_inputs(req)
    assert audio_inputs(req) == [
        InputRef(asset_id="v"),
        InputRef(asset_id="m"),
        InputRef(asset_id="n1"),
        InputRef(url="https://x.test/n2.wav"),
    ]


def test_h264_video_is_copied_into_mp4_and_only_the_audio_is_encoded() -> None:
    p = plan(request())
    assert value_after(p.args, "-c:v") == "copy"
    assert value_after(p.args, "-c:a") == "aac"
    assert value_after(p.args, "-map", 1) == "[aout]"
    assert p.output == OUT / "output.mp4" and p.content_type == "video/mp4"
    assert p.poster == OUT / "poster.jpg"


def test_vp9_video_is_copied_into_webm_with_opus() -> None:
    p = plan(request(format="webm"), video(codec="vp9", fmt="matroska,webm"))
    assert value_after(p.args, "-c:v") == "copy"
    assert value_after(p.args, "-c:a") == "libopus"
    assert p.content_type == "video/webm"


def test_hevc_is_copied_into_mp4_with_the_tag_apple_players_need() -> None:
    p = plan(request(), video(codec="hevc"))
    assert value_after(p.args, "-c:v") == "copy"
    assert value_after(p.args, "-tag:v") == "hvc1"


@pytest.mark.parametrize(("codec", "fmt", "encoder"), [("h264", "webm", "libvpx-vp9"), ("mpeg4", "mp4", "libx264")])
def test_a_codec_the_container_cannot_hold_is_re_encoded(codec: str, fmt: str, encoder: str) -> None:
    p = plan(request(format=fmt, quality="low"), video(codec=codec))
    assert value_after(p.args, "-c:v") == encoder
    assert "copy" not in p.args


def test_the_audio_is_cut_and_padded_to_exactly_the_video_length() -> None:
    p = plan(request(), video(duration_s=7.52))
    assert p.duration_s == 7.52
    assert statement(p, "aout").endswith("apad=whole_len=360960,atrim=end_sample=360960[aout]")  # 7.52 s at 48 kHz
    assert "-shortest" not in p.args


def test_every_source_is_resampled_to_48k_stereo() -> None:
    p = plan(request(music={"input": MUSIC_REF}), video(), sound())
    for label in ("orig", "music"):
        assert "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo" in statement(p, label)


def test_a_video_without_sound_and_nothing_to_add_gets_a_silent_track() -> None:
    p = plan(request(), video(duration_s=2.0, audio=False))
    assert statement(p, "aout") == "anullsrc=r=48000:cl=stereo,atrim=end_sample=96000[aout]"


def test_original_volume_scales_and_zero_mutes_the_video_sound() -> None:
    assert "volume=0.25" in statement(plan(request(original_volume=0.25)), "orig")
    muted = plan(request(original_volume=0, music={"input": MUSIC_REF}), video(), sound())
    assert "0:a:0" not in graph(muted)


def test_every_input_is_opened_with_the_whitelists() -> None:
    p = plan(request(music={"input": MUSIC_REF}, narration=[{"input": {"asset_id": "n"}}]), video(), sound(), sound())
    assert input_files(p) == [str(VIDEO), str(MUSIC), str(VOICE)]
    assert p.args.count("-protocol_whitelist") == 3 and p.args.count("-format_whitelist") == 3


# ---- music --------------------------------------------------------------------------------------------------


def test_music_shorter_than_the_video_loops_the_whole_file_from_the_demuxer() -> None:
    p = plan(request(music={"input": MUSIC_REF}), video(duration_s=10.0), sound(duration_s=3.0))
    music_input = p.args.index(str(MUSIC))
    assert p.args[p.args.index("-stream_loop") + 1] == "-1"
    assert p.args.index("-stream_loop") < music_input
    assert p.args.index("-stream_loop") > p.args.index(str(VIDEO))  # only the music input loops
    assert "atrim=end_sample=480000" in statement(p, "music")  # the video's 10 s
    assert "aloop" not in graph(p)


def test_music_without_loop_plays_once() -> None:
    p = plan(request(music={"input": MUSIC_REF, "loop": False}), video(duration_s=10.0), sound(duration_s=3.0))
    assert "-stream_loop" not in p.args
    assert "atrim=end_sample=144000" in statement(p, "music")


def test_music_longer_than_the_video_is_cut_at_the_video_end() -> None:
    p = plan(request(music={"input": MUSIC_REF}), video(duration_s=5.0), sound(duration_s=60.0))
    assert "-stream_loop" not in p.args
    assert "atrim=end_sample=240000" in statement(p, "music")


def test_a_trimmed_music_segment_loops_from_memory() -> None:
    req = request(music={"input": MUSIC_REF, "in_s": 1.0, "out_s": 2.5})
    p = plan(req, video(duration_s=10.0), sound(duration_s=4.0))
    music = statement(p, "music")
    assert "-stream_loop" not in p.args
    assert (
        music.index("atrim=start=1:end=2.5")
        < music.index("aloop=loop=-1:size=72000")
        < music.index("atrim=end_sample=480000")
    )


def test_music_start_delays_it_and_it_plays_until_the_video_ends() -> None:
    p = plan(request(music={"input": MUSIC_REF, "start_s": 2.0}), video(duration_s=10.0), sound(duration_s=3.0))
    music = statement(p, "music")
    assert "atrim=end_sample=384000" in music  # 8 s of music from 2 s to 10 s
    assert music.endswith("adelay=delays=96000S:all=1[music]")


def test_fades_frame_the_music_where_it_plays() -> None:
    req = request(music={"input": MUSIC_REF, "start_s": 1.0, "fade_in_s": 1.5, "fade_out_s": 2.0, "volume": 0.3})
    music = statement(plan(req, video(duration_s=10.0), sound(duration_s=60.0)), "music")
    assert "afade=t=in:st=0:d=1.5" in music
    assert "afade=t=out:st=7:d=2" in music  # it plays 9 s, from 1 s to the end
    assert music.index("afade=t=out") < music.index("volume=0.3") < music.index("adelay")


def test_fades_longer_than_the_music_plays_are_refused() -> None:
    req = request(music={"input": MUSIC_REF, "loop": False, "fade_in_s": 2, "fade_out_s": 2})
    err = invalid(req, video(), sound(duration_s=3.0))
    assert err.errors[0]["field"] == "music.fade_out_s"


def test_music_that_has_no_audio_stream_is_refused_naming_the_field() -> None:
    err = invalid(request(music={"input": MUSIC_REF}), video(), sound(audio=False))
    assert err.code == "input_no_audio"
    assert err.errors[0]["field"] == "music.input"


@pytest.mark.parametrize(
    ("music", "field"),
    [
        ({"start_s": 10.0}, "music.start_s"),
        ({"in_s": 4.0}, "music.in_s"),
        ({"in_s": 2.0, "out_s": 1.0}, "music.out_s"),
        ({"out_s": 4.5}, "music.out_s"),
    ],
)
def test_music_times_outside_the_media_are_refused(music: dict[str, float], field: str) -> None:
    err = invalid(request(music={"input": MUSIC_REF, **music}), video(duration_s=10.0), sound(duration_s=4.0))
    assert err.errors[0]["field"] == field


def test_a_long_trimmed_segment_cannot_loop_from_memory() -> None:
    req = request(music={"input": MUSIC_REF, "in_s": 0.5, "out_s": 400})
    err = invalid(req, video(duration_s=900.0), sound(duration_s=500.0))
    assert err.errors[0]["field"] == "music.out_s"
    assert "300" in err.detail


# ---- narration ----------------------------------------------------------------------------------------------


def test_text_narration_is_synthesised_before_ffmpeg_from_a_file() -> None:
    text = "Hello, [world]; it's 'fine': a\\b"
    p = plan(request(narration=[{"text": text, "voice": "en-us", "start_s": 1.5, "volume": 0.8}]))
    assert p.files == {OUT / "narration0.txt": text}
    [argv] = p.before
    assert argv[argv.index("-f") + 1] == str(OUT / "narration0.txt")
    assert argv[argv.index("-w") + 1] == str(OUT / "narration0.wav")
    assert input_files(p)[1] == str(OUT / "narration0.wav")
    narration = statement(p, "n0")
    assert narration.startswith("[1:a:0]") and "volume=0.8" in narration
    assert narration.endswith("adelay=delays=72000S:all=1[n0]")
    assert not any(text in a for a in p.args)


def test_text_and_recorded_narrations_take_their_inputs_in_order() -> None:
    req = request(
        music={"input": MUSIC_REF},
        narration=[{"input": {"asset_id": "a"}}, {"text": "two"}, {"input": {"asset_id": "b"}, "start_s": 3}],
    )
    p = plan_audio(
        req,
        [
            Source(VIDEO, video()),
            Source(MUSIC, sound()),
            Source(Path("/a.wav"), sound()),
            Source(Path("/b.wav"), sound()),
        ],
        OUT,
        SETTINGS,
    )
    assert input_files(p) == [str(VIDEO), str(MUSIC), "/a.wav", str(OUT / "narration1.wav"), "/b.wav"]
    assert statement(p, "n0").startswith("[2:a:0]")
    assert statement(p, "n1").startswith("[3:a:0]")
    assert statement(p, "n2").startswith("[4:a:0]")
    assert len(p.before) == 1


@pytest.mark.parametrize(
    ("narration", "field"),
    [
        ({}, "narration[0]"),
        ({"text": "hi", "input": {"asset_id": "a"}}, "narration[0]"),
        ({"input": {"asset_id": "a"}, "voice": "en"}, "narration[0].voice"),
        ({"input": {"asset_id": "a"}, "rate_wpm": 200}, "narration[0].rate_wpm"),
    ],
)
def test_a_narration_is_either_text_or_a_recording(narration: dict[str, Any], field: str) -> None:
    err = invalid(request(narration=[narration]), video(), sound())
    assert err.errors[0]["field"] == field


def test_narration_recording_without_audio_is_refused() -> None:
    err = invalid(request(narration=[{"input": {"asset_id": "a"}}]), video(), sound(audio=False))
    assert err.code == "input_no_audio" and err.errors[0]["field"] == "narration[0].input"


def test_narration_starting_after_the_video_is_refused() -> None:
    err = invalid(request(narration=[{"text": "late", "start_s": 12}]), video(duration_s=10))
    assert err.errors[0]["field"] == "narration[0].start_s"


def test_unknown_voice_is_refused_at_planning() -> None:
    err = invalid(request(narration=[{"text": "hi"}, {"text": "hi", "voice": "xx-nope"}]))
    assert err.code == "unknown_voice" and err.errors[0]["field"] == "narration[1].voice"


def test_text_over_the_configured_limit_is_refused() -> None:
    settings = load_settings(environ={"VIDEOAPI_EDITING__MAX_TEXT_CHARS": "10"})
    err = invalid(request(narration=[{"text": "x" * 11}]), settings=settings)
    assert err.code == "limit_exceeded" and "editing.max_text_chars" in err.errors[0]["message"]


def test_static_check_validates_text_and_voice_before_url_inputs_are_probed() -> None:
    req = msgspec.convert(
        {"input": {"url": "https://x.test/v.mp4"}, "narration": [{"text": "ok", "voice": "nope"}]}, AudioRequest
    )
    with pytest.raises(InvalidRequest) as exc:
        check_audio(req, SETTINGS)
    assert exc.value.code == "unknown_voice"


# ---- ducking --------------------------------------------------------------------------------------------------


def test_ducking_keys_a_compressor_on_the_music_by_the_narration() -> None:
    req = request(music={"input": MUSIC_REF}, narration=[{"text": "hi"}], ducking=True)
    p = plan(req, video(), sound())
    g = graph(p)
    assert "[n0]asplit=2[n0_mix][n0_key]" in g
    # Both go on in silence (the compressor stops when either ends), and the result is cut at the video end.
    assert "[n0_key]apad[key]" in g and "[music]apad[music_padded]" in g
    compressor = "sidechaincompress=threshold=0.031623:ratio=8:attack=20:release=400"
    assert f"[music_padded][key]{compressor},atrim=end_sample=480000[ducked]" in g
    assert statement(p, "mix").startswith("[ducked][orig][n0_mix]amix=inputs=3:duration=longest:normalize=0")


def test_ducking_settings_reach_the_compressor() -> None:
    ducking = {"threshold_db": -20, "ratio": 4, "attack_ms": 5, "release_ms": 1000}
    p = plan(request(music={"input": MUSIC_REF}, narration=[{"text": "hi"}], ducking=ducking), video(), sound())
    assert "sidechaincompress=threshold=0.1:ratio=4:attack=5:release=1000," in graph(p)


def test_without_narration_the_original_sound_ducks_the_music() -> None:
    p = plan(request(music={"input": MUSIC_REF}, ducking=True), video(), sound())
    assert "[orig]asplit=2[orig_mix][orig_key]" in graph(p)
    assert "[orig_key]apad[key]" in graph(p)


def test_ducking_under_both_mixes_the_speech_into_one_key() -> None:
    req = request(music={"input": MUSIC_REF}, narration=[{"text": "a"}, {"text": "b"}], ducking={"trigger": "both"})
    g = graph(plan(req, video(), sound()))
    assert "[orig_key][n0_key][n1_key]amix=inputs=3:duration=longest:normalize=0[speech]" in g
    assert "[speech]apad[key]" in g


def test_ducking_needs_music_and_something_to_duck_under() -> None:
    assert invalid(request(ducking=True)).errors[0]["field"] == "ducking"
    muted = request(music={"input": MUSIC_REF}, ducking=True, original_volume=0)
    assert invalid(muted, video(), sound()).errors[0]["field"] == "ducking.trigger"
    no_narration = request(music={"input": MUSIC_REF}, ducking={"trigger": "narration"})
    assert invalid(no_narration, video(), sound()).errors[0]["field"] == "ducking.trigger"


# ---- loudness -------------------------------------------------------------------------------------------------


def test_normalize_true_targets_minus_16_lufs_for_the_web() -> None:
    out = statement(plan(request(normalize=True)), "aout")
    assert "loudnorm=I=-16:TP=-1.5:LRA=11,aresample=48000" in out
    # loudnorm sees the mix cut to the video, and the padding comes after it.
    assert out.index("atrim=end_sample=480000") < out.index("loudnorm") < out.index("apad")


def test_normalize_takes_a_target() -> None:
    out = statement(plan(request(normalize={"target_lufs": -23, "true_peak_db": -2, "lra": 7})), "aout")
    assert "loudnorm=I=-23:TP=-2:LRA=7" in out


def test_no_loudnorm_unless_asked() -> None:
    assert "loudnorm" not in graph(plan(request()))


# ---- the request ------------------------------------------------------------------------------------------------


def test_the_input_must_be_a_video() -> None:
    assert invalid(request(), video(is_image=True)).code == "input_not_video"
    assert invalid(request(), sound()).code == "input_not_video"


def test_a_video_past_the_timeline_limit_names_the_setting() -> None:
    settings = load_settings(environ={"VIDEOAPI_EDITING__MAX_TIMELINE_S": "5"})
    err = invalid(request(), video(duration_s=6), settings=settings)
    assert err.code == "limit_exceeded" and "editing.max_timeline_s" in err.errors[0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"narration": [{"text": "hi", "rate_wpm": 500}]},
        {"narration": [{"text": "hi", "pitch": 100}]},
        {"music": {"input": MUSIC_REF, "volume": -1}},
        {"normalize": {"target_lufs": 0}},
        {"ducking": {"ratio": 30}},
        {"narration": [{"text": "x"}] * 21},
        {"ducking": "yes"},
    ],
)
def test_out_of_range_options_are_refused_by_the_schema(body: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        request(**body)


def test_the_filtergraph_holds_only_our_labels_and_numbers() -> None:
    req = request(
        music={"input": MUSIC_REF, "fade_in_s": 1, "in_s": 0.5},
        narration=[{"text": "a,b;c[d]e:f'g\\h", "start_s": 0.25}],
        ducking=True,
        normalize=True,
    )
    g = graph(plan(req, video(), sound()))
    for piece in re.split(r"[;,]", g):
        assert re.fullmatch(r"(\[[\w:]+\])*[a-z_]+(=[\w.:=\-/]+)?(\[[\w:]+\])*", piece), piece


def test_the_mix_is_pinned_to_48k_before_it_is_cut_and_normalised() -> None:
    # loudnorm's 192 kHz must not reach the sample counts, or the cut lands at a quarter of the video.
    req = request(music={"input": MUSIC_REF}, narration=[{"text": "hi"}], ducking=True, normalize=True)
    tail = statement(plan(req, video(), sound()), "aout")
    assert tail.startswith("[mix]aformat=sample_rates=48000,atrim=end_sample=480000,loudnorm=")
