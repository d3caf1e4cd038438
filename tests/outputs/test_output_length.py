"""Every rendered output is bounded by its plan's length: a file whose headers claim 1 s while its
samples last 4 s renders (and is charged) as the 1 s that was planned, not as 4 s."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av

from tests.support.app import running_app
from tests.support.media import make_lying_duration
from videoapi.media.plan import LENGTH_MARGIN_S, Plan, bounded_args
from videoapi.settings import Settings


def decoded_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames / float(stream.average_rate or 25)


def test_a_file_that_lies_about_its_length_renders_only_the_planned_length(
    make_settings: Callable[..., Settings], clip: Path, tmp_path: Path
) -> None:
    liar = make_lying_duration(clip, tmp_path / "liar.mp4", 0.25)  # 4 s of samples, headers say 1 s
    assert decoded_seconds(liar) >= 3.9
    with running_app(make_settings()) as api:
        asset = api.upload(liar)
        assert asset["media"]["duration_s"] < 1.1
        task = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}, "height": 120}).json()
        done = api.wait(task["id"])
        assert done["status"] == "succeeded", done
        out = api.download(done["result"]["url"], tmp_path / "out.mp4")
    assert decoded_seconds(out) <= asset["media"]["duration_s"] + LENGTH_MARGIN_S + 0.05


def test_the_bound_goes_on_the_main_output_only() -> None:
    plan = Plan(
        ["-i", "in.mp4", "-c:v", "libx264", "out/output.mp4", "-frames:v", "1", "out/poster.jpg"],
        Path("out/output.mp4"),
        Path("out/poster.jpg"),
        "video/mp4",
        2.0,
    )
    assert bounded_args(plan) == [
        "-i",
        "in.mp4",
        "-c:v",
        "libx264",
        "-t",
        "2.250",
        "out/output.mp4",
        "-frames:v",
        "1",
        "out/poster.jpg",
    ]


def test_stills_and_unknown_lengths_are_left_as_planned() -> None:
    still = Plan(["-i", "in.mp4", "out/frame.jpg"], Path("out/frame.jpg"), None, "image/jpeg", 0.0)
    assert bounded_args(still) == still.args


def test_a_plan_that_bounds_its_own_output_keeps_its_exact_bound() -> None:
    trim = Plan(
        ["-ss", "1.000", "-i", "in.mp4", "-t", "1.500", "-c:v", "libx264", "out/output.mp4"],
        Path("out/output.mp4"),
        None,
        "video/mp4",
        1.5,
    )
    assert bounded_args(trim) == trim.args


def test_an_input_side_bound_does_not_count_as_the_outputs_own() -> None:
    plan = Plan(
        ["-t", "9", "-i", "a.mp4", "-i", "b.mp4", "-c:v", "libx264", "out/output.mp4"],
        Path("out/output.mp4"),
        None,
        "video/mp4",
        2.0,
    )
    assert bounded_args(plan)[-3:] == ["-t", "2.250", "out/output.mp4"]
