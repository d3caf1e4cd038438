"""The composite compiler is pure: these read its plan (arguments, filtergraph, files) without running ffmpeg."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from videoapi.editing.compile import GRAPH_FILE, compile_timeline
from videoapi.editing.timeline import CompositeRequest, source_refs
from videoapi.media.filters import escape_value
from videoapi.media.plan import Plan
from videoapi.media.probe import AudioInfo, MediaInfo, VideoInfo
from videoapi.settings import load_settings

SETTINGS = load_settings(environ={})
OUT = Path("/work/task/out")
METACHARACTERS = "It's: a,b;c [x] \\ y\nsecond line %{pts} ='\\''"


def media(
    width: int = 320,
    height: int = 240,
    fps: float | None = 25.0,
    *,
    duration_s: float = 10.0,
    sample_rate: int | None = 48000,
    channels: int = 2,
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
    image: bool = False,
) -> MediaInfo:
    return MediaInfo(
        format_name="png_pipe" if image else "mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=0.0 if image else duration_s,
        size_bytes=1000,
        bit_rate=None,
        video=VideoInfo(
            codec="png" if image else "h264",
            width=width,
            height=height,
            fps=None if image else fps,
            rotation=rotation,
            pix_fmt=pix_fmt,
            bit_depth=10 if "10" in pix_fmt else 8,
        ),
        audio=AudioInfo(codec="aac", sample_rate=sample_rate, channels=channels) if sample_rate else None,
        is_image=image,
    )


def audio_only(duration_s: float = 3.0) -> MediaInfo:
    return MediaInfo(
        format_name="wav",
        duration_s=duration_s,
        size_bytes=1000,
        bit_rate=None,
        video=None,
        audio=AudioInfo(codec="pcm_s16le", sample_rate=22050, channels=1),
        is_image=False,
    )


def compile_(tracks: list[list[dict[str, Any]]], medias: dict[str, MediaInfo], **output: Any) -> Plan:
    body = {
        "timeline": {"tracks": [{"clips": clips} for clips in tracks]},
        "output": {"width": 640, "height": 360, "fps": 30, **output},
    }
    req = msgspec.convert(body, CompositeRequest)
    refs = source_refs(req)
    paths = [Path(f"/work/task/in{n}/{ref.asset_id}.mp4") for n, ref in enumerate(refs)]
    return compile_timeline(req, paths, [medias[ref.asset_id or ""] for ref in refs], OUT, SETTINGS)


def graph(plan: Plan) -> str:
    return plan.files[OUT / GRAPH_FILE]


def lines(plan: Plan, pattern: str) -> list[str]:
    return [line for line in graph(plan).splitlines() if re.search(pattern, line)]


def video(asset: str, **kw: Any) -> dict[str, Any]:
    return {"type": "video", "source": {"asset_id": asset}, **kw}


def value_after(args: list[str], flag: str, nth: int = 0) -> str:
    return [args[i + 1] for i, a in enumerate(args) if a == flag][nth]


THREE = {
    "a": media(1280, 720, 25, sample_rate=44100),
    "b": media(640, 480, 30),
    "c": media(320, 240, 24, sample_rate=None),
}


def three_clips(**output: Any) -> Plan:
    return compile_(
        [
            [
                video("a", trim_start_s=1, trim_end_s=4),
                video("b", trim_end_s=3, transition={"type": "crossfade", "duration_s": 1}),
                video("c", trim_end_s=2, transition={"type": "wipe_left", "duration_s": 0.5}),
            ]
        ],
        THREE,
        **output,
    )


# ---- one pass -------------------------------------------------------------------------------


def test_the_filtergraph_is_a_script_file_and_the_video_is_encoded_once() -> None:
    plan = three_clips()
    args = plan.args
    assert value_after(args, "-/filter_complex") == str(OUT / GRAPH_FILE)
    assert "-filter_complex" not in args and "-vf" not in args
    assert args.count("-c:v") == 1 and value_after(args, "-c:v") == "libx264"
    assert value_after(args, "-map") == "[vout]" and value_after(args, "-map", 1) == "[aout]"
    # The poster is a second output of the same command, cut from the composite itself.
    assert args[-1] == str(OUT / "poster.jpg") and value_after(args, "-map", 2) == "[poster]"
    assert plan.output == OUT / "output.mp4" and plan.content_type == "video/mp4"


def test_every_input_is_opened_with_the_whitelists_and_seeks_to_its_in_point() -> None:
    args = three_clips().args
    assert args.count("-i") == 3
    assert args.count("-protocol_whitelist") == 3 and args.count("-format_whitelist") == 3
    first = args[: args.index("-i") + 2]
    assert value_after(first, "-ss") == "1" and value_after(first, "-t") == "3"


def test_transitions_are_xfades_and_acrossfades_at_frame_exact_offsets() -> None:
    plan = three_clips()
    # 3 s + 3 s - 1 s + 2 s - 0.5 s at 30 fps
    assert plan.duration_s == pytest.approx(6.5)
    assert value_after(plan.args, "-t", 3) == "6.5"
    xfades = lines(plan, "xfade=")
    assert "xfade=transition=fade:duration=1:offset=2" in xfades[0]
    assert "xfade=transition=wipeleft:duration=0.5:offset=4.5" in xfades[1]
    crossfades = lines(plan, "acrossfade=")
    assert "acrossfade=ns=48000:" in crossfades[0] and "acrossfade=ns=24000:" in crossfades[1]


def test_every_clip_is_cut_to_its_exact_length_in_frames_and_samples() -> None:
    g = graph(three_clips())
    assert g.count("trim=end_frame=90") == 2 and g.count("trim=end_frame=60") == 1
    assert g.count("atrim=end_sample=144000") == 2 and g.count("atrim=end_sample=96000") == 1


@pytest.mark.parametrize(
    ("name", "xfade"),
    [
        ("fade", "fade"),
        ("dissolve", "dissolve"),
        ("wipe_up", "wipeup"),
        ("wipe_down", "wipedown"),
        ("wipe_right", "wiperight"),
        ("slide_left", "slideleft"),
        ("slide_right", "slideright"),
        ("slide_up", "slideup"),
        ("slide_down", "slidedown"),
        ("circle_open", "circleopen"),
        ("circle_close", "circleclose"),
    ],
)
def test_transition_names_map_to_xfade(name: str, xfade: str) -> None:
    plan = compile_([[video("a", trim_end_s=2), video("b", trim_end_s=2, transition={"type": name})]], THREE)
    assert f"xfade=transition={xfade}:" in graph(plan)


@pytest.mark.parametrize(("name", "color"), [("fade_black", "0x000000"), ("fade_white", "0xffffff")])
def test_fade_through_a_colour_dips_both_clips_to_it_at_the_midpoint(name: str, color: str) -> None:
    plan = compile_(
        [[video("a", trim_end_s=2), video("b", trim_end_s=2, transition={"type": name, "duration_s": 1})]], THREE
    )
    first, second = lines(plan, r"^\[0:v:0\]")[0], lines(plan, r"^\[1:v:0\]")[0]
    assert f"fade=t=out:st=1:d=0.5:color={color}" in first
    assert f"fade=t=in:st=0.5:d=0.5:color={color}" in second
    assert "xfade=transition=fade:duration=1:offset=1" in graph(plan)


# ---- normalisation --------------------------------------------------------------------------


def test_mixed_sizes_fps_and_sample_rates_are_normalised_per_clip() -> None:
    plan = compile_(
        [[video("hd60", trim_end_s=1), video("sd24", trim_end_s=1), video("hd10bit", trim_end_s=1)]],
        {
            "hd60": media(1920, 1080, 60, sample_rate=44100, channels=1),
            "sd24": media(320, 240, 24, sample_rate=22050),
            "hd10bit": media(1280, 720, 30, pix_fmt="yuv420p10le", sample_rate=96000),
        },
    )
    for k in range(3):
        chain = lines(plan, rf"^\[{k}:v:0\]")[0]
        assert "scale=640:360:force_original_aspect_ratio=decrease" in chain
        assert "pad=640:360:" in chain and "setsar=1" in chain and "format=yuv420p" in chain
        assert "fps=30" in chain
        sound = lines(plan, rf"^\[{k}:a:0\]")[0]
        assert "aresample=48000" in sound and "channel_layouts=stereo" in sound
    hd60, sd24 = lines(plan, r"^\[0:v:0\]")[0], lines(plan, r"^\[1:v:0\]")[0]
    # Drop surplus frames before scaling, duplicate missing ones after.
    assert hd60.index("fps=30") < hd60.index("scale=")
    assert sd24.index("fps=30") > sd24.index("scale=")
    assert "concat=n=3:v=1:a=1" in graph(plan)


def test_a_rotated_source_is_fitted_by_its_display_size() -> None:
    # ffmpeg autorotates; the probe's size is the displayed one, and fit works on whatever arrives.
    plan = compile_([[video("phone", trim_end_s=1)]], {"phone": media(1080, 1920, 30, rotation=90)})
    chain = lines(plan, r"^\[0:v:0\]")[0]
    assert "scale=640:360:force_original_aspect_ratio=decrease" in chain
    assert "transpose" not in chain and "-noautorotate" not in plan.args


def test_clips_without_audio_get_silence_of_their_length() -> None:
    plan = compile_([[video("c", trim_end_s=2), video("b", trim_end_s=1)]], THREE)
    silence = lines(plan, "anullsrc")
    assert len(silence) == 1 and "atrim=end_sample=96000" in silence[0]
    assert not lines(plan, r"\[0:a:0\]")


@pytest.mark.parametrize(
    ("fit", "expected"),
    [
        ("contain", ["force_original_aspect_ratio=decrease", "pad=640:360"]),
        ("cover", ["force_original_aspect_ratio=increase", "crop=640:360"]),
        ("stretch", ["scale=640:360,"]),
    ],
)
def test_fit_modes(fit: str, expected: list[str]) -> None:
    chain = lines(compile_([[video("b", trim_end_s=1, fit=fit)]], THREE), r"^\[0:v:0\]")[0]
    assert all(part in chain for part in expected), chain
    if fit != "contain":
        assert ",pad=" not in chain


def test_speed_uses_setpts_and_atempo_and_reads_the_source_range() -> None:
    plan = compile_([[video("a", trim_end_s=4, speed=0.25)]], THREE)
    assert plan.duration_s == pytest.approx(16)
    assert "setpts=(PTS-STARTPTS)/0.25" in lines(plan, r"^\[0:v:0\]")[0]
    assert "atempo=0.5,atempo=0.5" in lines(plan, r"^\[0:a:0\]")[0]
    assert value_after(plan.args, "-t") == "4"


def test_an_image_clip_is_decoded_once_and_cloned() -> None:
    plan = compile_([[{"type": "image", "source": {"asset_id": "png"}, "duration_s": 2}]], {"png": media(image=True)})
    chain = lines(plan, r"^\[0:v:0\]")[0]
    assert "tpad=stop_mode=clone" in chain and "trim=end_frame=60" in chain
    assert "-loop" not in plan.args


def test_colour_clips_and_gaps_are_generated_sources() -> None:
    plan = compile_(
        [[{"type": "color", "color": "#3366cc", "duration_s": 1}, video("b", trim_end_s=1, start_s=2)]], THREE
    )
    g = graph(plan)
    assert "color=c=0x3366cc@1.000:s=640x360:r=30" in g
    assert "color=c=0x000000@1.000:s=640x360" in g  # the one-second gap, in the background colour
    assert "concat=n=3:v=1:a=1" in g
    assert plan.duration_s == pytest.approx(3)


def test_clip_fades_go_to_the_background_on_the_bottom_track_and_to_transparency_above() -> None:
    plan = compile_(
        [
            [video("a", trim_end_s=2, fade_in_s=0.5)],
            [{"type": "color", "color": "red", "duration_s": 1, "scale": 0.5, "fade_out_s": 0.25, "opacity": 0.5}],
        ],
        THREE,
        background="#102030",
    )
    assert "fade=t=in:st=0:d=0.5:color=0x102030@1.000" in lines(plan, r"^\[0:v:0\]")[0]
    top = lines(plan, r"^color=c=0xff0000")[0]
    assert "format=yuva420p" in top and "lut=a=val*0.5" in top and "fade=t=out:st=0.75:d=0.25:alpha=1" in top


# ---- overlays and text ----------------------------------------------------------------------


def test_image_overlay_is_placed_at_its_anchor_during_its_time_range() -> None:
    plan = compile_(
        [
            [video("a", trim_end_s=4)],
            [
                {
                    "type": "image",
                    "source": {"asset_id": "logo"},
                    "start_s": 1,
                    "duration_s": 2,
                    "scale": 0.2,
                    "position": "top-right",
                    "x": -10,
                    "y": 10,
                    "opacity": 0.7,
                }
            ],
        ],
        {**THREE, "logo": media(200, 100, image=True)},
    )
    logo = lines(plan, r"^\[1:v:0\]")[0]
    assert "scale=128:72:force_original_aspect_ratio=decrease" in logo and "format=yuva420p" in logo
    assert "lut=a=val*0.7" in logo
    overlay = lines(plan, "overlay=")[0]
    assert "x='1*(main_w-overlay_w)-10':y='10'" in overlay
    assert "enable='between(t,0.983333,2.983333)'" in overlay
    assert "setpts=PTS+1/TB" in graph(plan)


def test_text_never_enters_the_filtergraph_and_renders_from_a_file() -> None:
    plan = compile_([[video("a", trim_end_s=3)], [{"type": "text", "text": METACHARACTERS, "start_s": 1,
                                                    "duration_s": 1, "box_color": "#00000080"}]], THREE)  # fmt: skip
    g = graph(plan)
    text_file = OUT / "text-1-0.txt"
    assert plan.files[text_file] == METACHARACTERS
    for fragment in ("It's", "a,b;c", "[x]", "second line", "%{pts}", "\\ y"):
        assert fragment not in g
    drawtext = lines(plan, "drawtext=")[0]
    assert f"textfile={escape_value(str(text_file))}" in drawtext
    assert "expansion=none" in drawtext  # %{...} stays literal
    assert "enable='between(t,0.983333,1.983333)'" in drawtext
    assert "box=1:boxcolor=0x000000@0.502:boxborderw=10" in drawtext


def test_cjk_text_gets_a_cjk_font() -> None:
    plan = compile_([[{"type": "text", "text": "你好，世界", "duration_s": 1}]], {})
    drawtext = lines(plan, "drawtext=")[0]
    assert "CJK" in drawtext or "cjk" in drawtext.lower()


def test_escape_value_leaves_no_unescaped_graph_metacharacter() -> None:
    value = "/tmp/a'b:c,d;e[f]g\\h"
    escaped = escape_value(value)
    # Every graph-level special character is preceded by a backslash.
    unescaped = re.findall(r"(?<!\\)[\[\],;]", escaped)
    assert unescaped == []
    assert escaped.startswith("\\'") and escaped.endswith("\\'")


# ---- audio ----------------------------------------------------------------------------------


def test_audio_clips_are_trimmed_looped_delayed_and_mixed_over_the_clips_sound() -> None:
    plan = compile_(
        [
            [video("a", trim_end_s=6)],
            [
                {
                    "type": "audio",
                    "source": {"asset_id": "music"},
                    "start_s": 1,
                    "trim_start_s": 0.5,
                    "trim_end_s": 2.5,
                    "loop": True,
                    "volume": 0.3,
                    "fade_in_s": 0.5,
                    "fade_out_s": 1,
                }
            ],
        ],
        {**THREE, "music": audio_only(3)},
    )
    music = lines(plan, r"^\[1:a:0\]")[0]
    assert "aloop=loop=-1:size=96000" in music and "volume=0.3" in music
    assert "atrim=end_sample=240000" in music  # 5 s: from 1 s to the end of the 6 s timeline
    assert "afade=t=in:st=0:d=0.5" in music and "afade=t=out:st=4:d=1" in music
    assert "adelay=delays=48000S:all=1" in music
    assert "amix=inputs=2:duration=first:normalize=0" in graph(plan)
    args = plan.args
    second = args[args.index("-i") + 2 :]
    assert value_after(second, "-ss") == "0.5" and value_after(second, "-t") == "2"


def test_muted_clip_contributes_silence() -> None:
    plan = compile_([[video("a", trim_end_s=1, volume=0)]], THREE)
    assert lines(plan, "anullsrc") and not lines(plan, r"\[0:a:0\]")


def test_webm_output_uses_vp9_and_opus() -> None:
    plan = three_clips(format="webm", quality="low")
    assert value_after(plan.args, "-c:v") == "libvpx-vp9" and value_after(plan.args, "-c:a") == "libopus"
    assert plan.output == OUT / "output.webm" and plan.content_type == "video/webm"
