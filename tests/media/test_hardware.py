"""Hardware encoders: the start-up probe (really encoding), the choice `auto` makes and counts, and the
arguments each family plans (pure, so they are checked here without the hardware)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from tests.editing.test_compile import compile_
from tests.editing.test_compile import media as clip_media
from tests.editing.test_edit_plan import media, value_after
from tests.support.app import running_app
from tests.support.media import make_video
from videoapi.editing.plan import plan_transcode
from videoapi.editing.schemas import TranscodeRequest
from videoapi.errors import InvalidRequest
from videoapi.media import hardware
from videoapi.media.hardware import EncoderStatus, EncoderUnavailable, choose_encoder, probe_encoder
from videoapi.observability.metrics import REGISTRY
from videoapi.settings import Settings

SRC = Path("/work/in.mp4")
OUT = Path("/work/out")
# An NVIDIA driver exposes this device; without it NVENC cannot open.
HAS_NVIDIA = Path("/dev/nvidiactl").exists()


def transcode(**body: object) -> TranscodeRequest:
    return msgspec.convert({"input": {"asset_id": "a"}, **body}, TranscodeRequest)


def status(usable: set[str]) -> dict[str, EncoderStatus]:
    return {e: EncoderStatus(e, e in usable, "" if e in usable else "no device") for e in hardware.PROBED}


# ---- arguments (pure) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "quality", "encoder", "cq", "preset"),
    [
        ("h264", "medium", "h264_nvenc", "25", "p4"),
        ("hevc", "high", "hevc_nvenc", "24", "p6"),
        ("av1", "low", "av1_nvenc", "42", "p3"),
    ],
)
def test_nvenc_maps_quality_to_a_preset_and_constant_quality(
    codec: str, quality: str, encoder: str, cq: str, preset: str
) -> None:
    plan = plan_transcode(transcode(codec=codec, quality=quality, encoder="nvenc"), media(), SRC, OUT)

    args = plan.args
    assert value_after(args, "-c:v") == encoder and value_after(args, "-preset") == preset
    assert value_after(args, "-rc") == "vbr" and value_after(args, "-cq") == cq and value_after(args, "-b:v") == "0"
    assert value_after(args, "-c:a") == "aac" and "-force_key_frames" in args
    assert plan.expect is not None and plan.expect.video_codec == codec


def test_nvenc_cq_follows_the_quality_ladder() -> None:
    cqs = [
        int(value_after(plan_transcode(transcode(encoder="nvenc", quality=q), media(), SRC, OUT).args, "-cq"))
        for q in ("low", "medium", "high")
    ]

    assert cqs[0] > cqs[1] > cqs[2]


def test_vaapi_opens_the_device_before_the_input_and_uploads_at_the_end_of_the_chain() -> None:
    args = plan_transcode(transcode(encoder="vaapi", width=640), media(), SRC, OUT).args

    assert args.index("-vaapi_device") < args.index("-i")
    assert value_after(args, "-vf").endswith(",format=nv12,hwupload")
    assert value_after(args, "-c:v") == "h264_vaapi" and value_after(args, "-qp") == "25"


def test_qsv_takes_nv12_frames_with_global_quality() -> None:
    args = plan_transcode(transcode(encoder="qsv", codec="hevc"), media(), SRC, OUT).args

    assert value_after(args, "-c:v") == "hevc_qsv" and value_after(args, "-global_quality") == "29"
    assert value_after(args, "-pix_fmt") == "nv12"


def test_hls_and_composite_plan_hardware_encoders_too() -> None:
    hls = plan_transcode(transcode(format="hls", encoder="nvenc"), media(), SRC, OUT).args
    clip = [{"type": "video", "source": {"asset_id": "a"}}]
    composite = compile_([clip], {"a": clip_media()}, encoder="vaapi")

    assert value_after(hls, "-c:v") == "h264_nvenc" and value_after(hls, "-var_stream_map")
    assert value_after(composite.args, "-c:v") == "h264_vaapi"
    assert value_after(composite.args, "-map") == "[venc]"
    assert composite.args.index("-vaapi_device") < composite.args.index("-i")


def test_auto_and_software_plan_the_software_encoder() -> None:
    for encoder in ("auto", "software"):
        assert value_after(plan_transcode(transcode(encoder=encoder), media(), SRC, OUT).args, "-c:v") == "libx264"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"codec": "vp9", "encoder": "nvenc"}, "encoder"), ({"format": "gif", "encoder": "qsv"}, "encoder")],
)
def test_a_family_without_an_encoder_for_the_codec_is_a_422(body: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        plan_transcode(transcode(**body), media(duration_s=5), SRC, OUT)

    assert exc.value.code == "codec_unsupported" and exc.value.errors[0]["field"] == field


# ---- the choice ----------------------------------------------------------------------------------


def test_auto_takes_a_usable_hardware_encoder_else_software_with_the_reason() -> None:
    assert choose_encoder("auto", "h264", status({"h264_nvenc"})) == ("nvenc", None)
    assert choose_encoder("auto", "hevc", status({"hevc_qsv"})) == ("qsv", None)
    assert choose_encoder("auto", "h264", status(set())) == ("software", "no_hardware")
    assert choose_encoder("auto", "prores", status({"h264_nvenc"})) == ("software", "codec_not_supported")
    assert choose_encoder("auto", "h264", None) == ("software", "not_probed")
    assert choose_encoder("software", "h264", status({"h264_nvenc"})) == ("software", None)


def test_an_explicit_family_the_probe_found_unusable_fails_with_a_stable_code() -> None:
    with pytest.raises(EncoderUnavailable) as exc:
        choose_encoder("nvenc", "h264", status(set()))

    assert exc.value.code == "encoder_unavailable" and "no device" in str(exc.value)
    assert choose_encoder("nvenc", "h264", status({"h264_nvenc"})) == ("nvenc", None)


# ---- the probe and the fallback (real ffmpeg) ----------------------------------------------------


@pytest.mark.ffmpeg
def test_the_probe_really_encodes_and_reports_why_nvenc_is_unusable() -> None:
    found = probe_encoder("h264_nvenc")

    assert found.usable is HAS_NVIDIA
    if not HAS_NVIDIA:
        assert found.reason and "0x" not in found.reason  # ffmpeg's own words, without the log address


@pytest.mark.ffmpeg
def test_auto_falls_back_to_software_counts_the_reason_and_metrics_show_the_probe(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker that probes at start (this machine has no usable hardware encoder)
    monkeypatch.setattr(hardware, "_cache", None)
    source = make_video(tmp_path / "src.mp4", duration_s=1.0, width=160, height=120)
    settings = make_settings(**{"outputs.probe_hardware": True})
    before = REGISTRY.get_sample_value("videoapi_encoder_fallbacks_total", {"reason": "no_hardware"}) or 0.0

    with running_app(settings) as api:
        asset = api.upload(source)
        auto = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}})
        nvenc = api.post("/v1/video/edit/transcode", json={"input": {"asset_id": asset["id"]}, "encoder": "nvenc"})
        done, refused = api.wait(auto.json()["id"]), api.wait(nvenc.json()["id"])
        scraped = api.client.get("/metrics").text

    # Then `auto` encoded in software, and the fallback was counted with its reason
    if HAS_NVIDIA:  # a GPU node: `auto` takes NVENC, nothing falls back
        assert done["result"]["encoder"] == "nvenc" and refused["status"] == "succeeded"
        return
    assert done["status"] == "succeeded" and done["result"]["encoder"] == "software"
    after = REGISTRY.get_sample_value("videoapi_encoder_fallbacks_total", {"reason": "no_hardware"})
    assert after == before + 1
    # And an explicit `nvenc` failed the task with the stable code and the probe's reason
    assert refused["status"] == "failed" and refused["error"]["code"] == "encoder_unavailable"
    assert "not usable on this worker" in refused["error"]["message"]
    # And /metrics shows each probed encoder as unusable
    assert 'videoapi_hardware_encoder_usable{encoder="h264_nvenc"} 0.0' in scraped
    assert 'videoapi_hardware_encoder_usable{encoder="h264_vaapi"} 0.0' in scraped
