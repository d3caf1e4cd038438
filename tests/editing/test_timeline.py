"""Composite timelines are validated up front: every bad input is a 422 naming the field and why."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from videoapi.editing.timeline import CompositeRequest, Layout, source_refs, validate
from videoapi.errors import InvalidRequest
from videoapi.media.probe import AudioInfo, MediaInfo, VideoInfo
from videoapi.settings import Settings, load_settings

SETTINGS = load_settings(environ={})


def media(
    duration_s: float = 10.0, *, video: bool = True, audio: bool = True, image: bool = False, fps: float = 25.0
) -> MediaInfo:
    return MediaInfo(
        format_name="png_pipe" if image else "mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=0.0 if image else duration_s,
        size_bytes=1000,
        bit_rate=None,
        video=VideoInfo(
            codec="png" if image else "h264",
            width=640,
            height=360,
            fps=None if image else fps,
            rotation=0,
            pix_fmt="yuv420p",
            bit_depth=8,
        )
        if video
        else None,
        audio=AudioInfo(codec="aac", sample_rate=44100, channels=2) if audio and not image else None,
        is_image=image,
    )


def video(asset: str = "a", **kw: Any) -> dict[str, Any]:
    return {"type": "video", "source": {"asset_id": asset}, **kw}


def request(*tracks: list[dict[str, Any]], **output: Any) -> CompositeRequest:
    body = {"timeline": {"tracks": [{"clips": clips} for clips in tracks]}, "output": {"fps": 25, **output}}
    return msgspec.convert(body, CompositeRequest)


def settings(**editing: Any) -> Settings:
    return msgspec.structs.replace(SETTINGS, editing=msgspec.structs.replace(SETTINGS.editing, **editing))


def run(req: CompositeRequest, medias: list[MediaInfo] | None = None, cfg: Settings = SETTINGS) -> Layout:
    if medias is None:
        medias = [media() for _ in source_refs(req)]
    layout = validate(req, cfg, medias)
    assert layout is not None
    return layout


def rejected(req: CompositeRequest, code: str, field: str, medias: list[MediaInfo] | None = None, **kw: Any) -> str:
    """The request fails validation with `code` on exactly `field`; returns the message."""
    with pytest.raises(InvalidRequest) as info:
        run(req, medias, **kw)
    err = info.value
    assert err.code == code, (err.code, err.detail)
    assert err.status == 422
    assert [e["field"] for e in err.errors] == [field], err.errors
    return f"{err.detail} | {err.errors[0]['message']}"


def decode_error(body: dict[str, Any]) -> str:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert(body, CompositeRequest)
    return str(info.value)


# ---- layout ---------------------------------------------------------------------------------


def test_clips_without_start_play_back_to_back_and_transitions_overlap_them() -> None:
    req = request(
        [
            video("a", trim_start_s=1, trim_end_s=3),
            video("b", transition={"type": "crossfade", "duration_s": 0.5}),
            {"type": "color", "color": "red", "duration_s": 1},
        ]
    )
    layout = run(req, [media(10), media(4)])
    starts = [(p.start_f, p.length_f, p.transition_f) for p in layout.tracks[0]]
    # 2 s at 25 fps, then 4 s starting 0.5 s (13 frames, halves round up) before it ends, then 1 s.
    assert starts == [(0, 50, 0), (37, 100, 13), (137, 25, 0)]
    assert layout.total_f == 162
    assert layout.duration_s == pytest.approx(6.48)


def test_speed_changes_the_length_on_the_timeline() -> None:
    layout = run(request([video(trim_end_s=4, speed=2)]))
    assert layout.tracks[0][0].length_f == 50
    assert layout.tracks[0][0].src_length_s == 4


def test_looping_audio_without_duration_runs_to_the_end_of_the_timeline() -> None:
    req = request(
        [{"type": "color", "color": "blue", "duration_s": 6}],
        [{"type": "audio", "source": {"asset_id": "m"}, "start_s": 1, "loop": True}],
    )
    layout = run(req, [media(2.0, video=False)])
    assert (layout.tracks[1][0].start_f, layout.tracks[1][0].length_f) == (25, 125)


@pytest.mark.parametrize(
    ("output", "size"),
    [
        ({"resolution": "720p"}, (1280, 720)),
        ({"resolution": "720p", "aspect_ratio": "9:16"}, (720, 1280)),
        ({"resolution": "1080p", "aspect_ratio": "4:5"}, (1080, 1350)),
        ({"resolution": "480p", "aspect_ratio": "1:1"}, (480, 480)),
        ({}, (1920, 1080)),
        ({"width": 641, "aspect_ratio": "16:9"}, (640, 360)),
        ({"width": 320, "height": 240}, (320, 240)),
    ],
)
def test_output_size_from_preset_aspect_ratio_or_exact_size(output: dict[str, Any], size: tuple[int, int]) -> None:
    layout = run(request([{"type": "color", "color": "red", "duration_s": 1}], **output))
    assert (layout.width, layout.height) == size


def test_a_source_used_twice_is_one_input() -> None:
    req = request([video("a", trim_end_s=1), video("b", trim_end_s=1), video("a", trim_start_s=2, trim_end_s=3)])
    assert [r.asset_id for r in source_refs(req)] == ["a", "b"]
    layout = run(req)
    assert [p.source for p in layout.tracks[0]] == [0, 1, 0]


def test_static_check_without_probes_lays_out_only_when_every_length_is_known() -> None:
    known = request([video(trim_end_s=2), {"type": "text", "text": "hi", "duration_s": 1}])
    layout = validate(known, SETTINGS, None)
    assert layout is not None and layout.total_f == 75
    assert validate(request([video()]), SETTINGS, None) is None


# ---- times ----------------------------------------------------------------------------------


def test_negative_start_is_refused_with_its_path() -> None:
    body = {"timeline": {"tracks": [{"clips": [{"type": "color", "color": "red", "duration_s": 1, "start_s": -1}]}]}}
    assert "$.timeline.tracks[0].clips[0].start_s" in decode_error(body)


def test_zero_duration_is_refused_with_its_path() -> None:
    body = {"timeline": {"tracks": [{"clips": [{"type": "color", "color": "red", "duration_s": 0}]}]}}
    assert "$.timeline.tracks[0].clips[0].duration_s" in decode_error(body)


def test_overlapping_clips_of_one_track_are_refused() -> None:
    req = request([video(trim_end_s=2), video(trim_end_s=2, start_s=1.5)])
    message = rejected(req, "overlapping_clips", "timeline.tracks[0].clips[1].start_s")
    assert "1.5" in message and "2" in message


def test_clips_on_different_tracks_may_overlap() -> None:
    req = request([video(trim_end_s=2)], [{"type": "color", "color": "red", "duration_s": 2, "scale": 0.5}])
    assert run(req).total_f == 50


def test_empty_trim_range_is_refused() -> None:
    rejected(request([video(trim_start_s=2, trim_end_s=2)]), "invalid_range", "timeline.tracks[0].clips[0].trim_end_s")


def test_clip_shorter_than_a_frame_is_refused() -> None:
    req = request([video(trim_start_s=1, trim_end_s=1.01)])
    assert "one frame" in rejected(req, "clip_too_short", "timeline.tracks[0].clips[0]")


def test_trim_past_the_end_of_the_source_is_refused() -> None:
    req = request([video(trim_end_s=12)])
    assert "10.000" in rejected(req, "input_out_of_range", "timeline.tracks[0].clips[0].trim_end_s", [media(10)])
    req = request([video(trim_start_s=10)])
    rejected(req, "input_out_of_range", "timeline.tracks[0].clips[0].trim_start_s", [media(10)])


def test_fades_longer_than_the_clip_are_refused() -> None:
    req = request([{"type": "color", "color": "red", "duration_s": 1, "fade_in_s": 0.6, "fade_out_s": 0.6}])
    rejected(req, "fade_too_long", "timeline.tracks[0].clips[0].fade_out_s")


def test_a_timeline_of_only_audio_is_refused() -> None:
    req = request([{"type": "audio", "source": {"asset_id": "m"}}])
    rejected(req, "empty_timeline", "timeline.tracks", [media(3, video=False)])


# ---- transitions ----------------------------------------------------------------------------


def test_transition_longer_than_the_next_clip_is_refused() -> None:
    req = request([video(trim_end_s=3), video(trim_end_s=1, transition={"duration_s": 1.5})])
    message = rejected(req, "transition_too_long", "timeline.tracks[0].clips[1].transition.duration_s")
    assert "1.5" in message


def test_transition_longer_than_the_previous_clip_is_refused() -> None:
    req = request([video(trim_end_s=1), video(trim_end_s=3, transition={"duration_s": 1.5})])
    rejected(req, "transition_too_long", "timeline.tracks[0].clips[1].transition.duration_s")


def test_two_transitions_may_not_overlap_inside_a_clip() -> None:
    req = request(
        [
            video(trim_end_s=3),
            video(trim_end_s=1.5, transition={"duration_s": 1}),
            video(trim_end_s=3, transition={"duration_s": 1}),
        ]
    )
    rejected(req, "transition_too_long", "timeline.tracks[0].clips[2].transition.duration_s")


def test_transition_on_the_first_clip_is_refused() -> None:
    req = request([video(trim_end_s=2, transition={"duration_s": 1})])
    rejected(req, "invalid_transition", "timeline.tracks[0].clips[0].transition")


def test_transition_with_a_gap_before_the_clip_is_refused() -> None:
    req = request([video(trim_end_s=2), video(trim_end_s=2, start_s=3, transition={"duration_s": 1})])
    rejected(req, "invalid_transition", "timeline.tracks[0].clips[1].start_s")


def test_transition_from_a_text_clip_is_refused() -> None:
    req = request([{"type": "text", "text": "x", "duration_s": 2}, video(trim_end_s=2, transition={"duration_s": 1})])
    rejected(req, "invalid_transition", "timeline.tracks[0].clips[1].transition")


def test_unknown_transition_type_is_refused_with_its_path() -> None:
    body = {
        "timeline": {"tracks": [{"clips": [video(trim_end_s=1), video(trim_end_s=1, transition={"type": "spin"})]}]}
    }
    assert "$.timeline.tracks[0].clips[1].transition.type" in decode_error(body)


# ---- text, fonts, colours -------------------------------------------------------------------


def text(value: str = "Hello", **kw: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, "duration_s": 1, **kw}


def test_unknown_font_is_refused() -> None:
    message = rejected(request([text(font="No Such Font 42")]), "unknown_font", "timeline.tracks[0].clips[0].font")
    assert "No Such Font 42" in message


@pytest.mark.parametrize("field", ["color", "outline_color", "box_color"])
def test_unknown_text_colour_is_refused(field: str) -> None:
    rejected(request([text(**{field: "blurple"})]), "invalid_color", f"timeline.tracks[0].clips[0].{field}")


def test_unknown_clip_and_background_colours_are_refused() -> None:
    rejected(request([{"type": "color", "color": "#12345", "duration_s": 1}]), "invalid_color",
             "timeline.tracks[0].clips[0].color")  # fmt: skip
    rejected(request([text()], background="nope"), "invalid_color", "output.background")


@pytest.mark.parametrize("char", ["\x00", "\t", "\r", "\x1b", "\u202e", "\u2028"])
def test_text_with_control_characters_is_refused(char: str) -> None:
    message = rejected(request([text(f"a{char}b")]), "invalid_text", "timeline.tracks[0].clips[0].text")
    assert f"U+{ord(char):04X}" in message


def test_filtergraph_metacharacters_and_line_breaks_are_allowed_in_text() -> None:
    run(request([text("It's: a,b;c [x] \\ y\nsecond line %{pts} 中文")]))


def test_blank_text_is_refused() -> None:
    rejected(request([text("  \n ")]), "invalid_text", "timeline.tracks[0].clips[0].text")


# ---- sources --------------------------------------------------------------------------------


def test_video_clip_of_an_audio_only_source_is_refused() -> None:
    rejected(request([video()]), "input_not_video", "timeline.tracks[0].clips[0].source", [media(video=False)])


def test_image_clip_of_an_audio_only_source_is_refused() -> None:
    req = request([{"type": "image", "source": {"asset_id": "a"}, "duration_s": 1}])
    rejected(req, "input_not_video", "timeline.tracks[0].clips[0].source", [media(video=False)])


def test_video_clip_of_a_still_image_is_refused() -> None:
    rejected(request([video()]), "input_not_video", "timeline.tracks[0].clips[0].source", [media(image=True)])


def test_audio_clip_of_a_silent_source_is_refused() -> None:
    req = request([text()], [{"type": "audio", "source": {"asset_id": "a"}}])
    rejected(req, "input_no_audio", "timeline.tracks[1].clips[0].source", [media(audio=False)])


def test_source_must_name_exactly_one_of_asset_id_or_url() -> None:
    req = request([text()], [{"type": "image", "source": {}, "duration_s": 1}])
    with pytest.raises(InvalidRequest) as info:
        source_refs(req)
    assert info.value.errors[0]["field"] == "timeline.tracks[1].clips[0].source"


# ---- limits ---------------------------------------------------------------------------------


def limited(req: CompositeRequest, field: str, setting: str, medias: list[MediaInfo] | None = None, **kw: Any) -> None:
    message = rejected(req, "limit_exceeded", field, medias, cfg=settings(**kw))
    assert f"editing.{setting}" in message


def test_a_4k_two_hour_timeline_is_past_the_limits() -> None:
    req = request([{"type": "color", "color": "red", "duration_s": 7200}], resolution="2160p")
    limited(req, "timeline", "max_timeline_s")


def test_output_pixel_seconds_limit() -> None:
    req = request([{"type": "color", "color": "red", "duration_s": 60}], resolution="1080p")
    limited(req, "output", "max_output_pixel_seconds", max_output_pixel_seconds=1920 * 1080 * 30)


def test_output_size_limits() -> None:
    req = request([text()], resolution="2160p")
    limited(req, "output.resolution", "max_output_width", max_output_width=1920)
    limited(request([text()], width=1000, height=1000), "output.height", "max_output_height", max_output_height=720)
    limited(request([text()], width=1000, height=1000), "output.width", "max_output_pixels", max_output_pixels=500_000)


def test_overlay_limit_counts_text_and_upper_track_clips() -> None:
    req = request([text(), text(start_s=2)], [{"type": "color", "color": "red", "duration_s": 1, "scale": 0.5}])
    limited(req, "timeline.tracks", "max_overlays", max_overlays=2)
    run(req, cfg=settings(max_overlays=3))


def test_text_length_limit() -> None:
    limited(request([text("x" * 11)]), "timeline.tracks[0].clips[0].text", "max_text_chars", max_text_chars=10)


def test_input_limit_counts_every_clip_with_a_source() -> None:
    req = request([video("a", trim_end_s=1), video("a", trim_start_s=1, trim_end_s=2)])
    limited(req, "timeline.tracks", "max_inputs", max_inputs=1)
