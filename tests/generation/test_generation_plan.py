"""Pure planning: requests mapped onto each model's constraints; the shipped registry is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from videoapi.errors import InvalidRequest
from videoapi.generation.plan import plan_generation
from videoapi.generation.registry import legal_frames, load_registry
from videoapi.generation.schemas import TextToVideoRequest
from videoapi.settings import SettingsError, load_settings


@pytest.fixture(scope="module")
def registry():  # the registry shipped in config/models.toml
    return load_registry(load_settings(environ={}))


@pytest.mark.parametrize(
    ("rule", "asked", "legal"), [("8k+1", 96, 97), ("8k+1", 97, 97), ("8k+1", 1, 1), ("4k+1", 48, 49), ("any", 7, 7)]
)
def test_frame_counts_round_up_to_the_rule(rule: str, asked: int, legal: int) -> None:
    assert legal_frames(rule, asked) == legal


def test_shipped_registry_has_the_real_models_with_their_hub_ids(registry) -> None:
    sources = {name: m.source for name, m in registry.models.items()}
    assert sources["ltx-video"] == "Lightricks/LTX-Video"
    assert sources["wan2.1-t2v-1.3b"] == "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
    assert sources["cogvideox-2b"] == "THUDM/CogVideoX-2b"
    assert sources["svd-xt"] == "stabilityai/stable-video-diffusion-img2vid-xt"
    assert registry.models["animatediff-v2v"].components["motion_adapter"].source == (
        "guoyww/animatediff-motion-adapter-v1-5-2"
    )
    assert all(m.hardware for m in registry.models.values())


def test_ltx_four_seconds_at_24_fps_is_97_frames_and_says_so(registry) -> None:
    spec = registry.models["ltx-video"]
    plan = plan_generation(registry, spec, "text-to-video", TextToVideoRequest(prompt="a cat", duration_s=4, fps=24), 1)
    assert (plan.frames, plan.requested_frames, plan.width, plan.height) == (97, 96, 768, 512)
    assert plan.notes == ["frame count rounded up from 96 to 97: ltx-video makes 8k+1 frames"]


def test_resolution_presets_map_to_the_models_multiple(registry) -> None:
    wan = registry.models["wan2.1-t2v-1.3b"]
    plan = plan_generation(registry, wan, "text-to-video", TextToVideoRequest(prompt="x", resolution="480p"), 1)
    assert (plan.width, plan.height) == (848, 480) or (plan.width, plan.height) == (832, 480)
    assert plan.width % 16 == 0 and plan.height % 16 == 0
    portrait = TextToVideoRequest(prompt="x", resolution="480p", aspect_ratio="9:16")
    plan = plan_generation(registry, wan, "text-to-video", portrait, 1)
    assert plan.width == 480 and plan.height % 16 == 0 and plan.height > plan.width


def test_steps_past_the_model_limit_are_refused_naming_the_limit(registry) -> None:
    spec = registry.models["ltx-video"]
    with pytest.raises(InvalidRequest) as err:
        plan_generation(registry, spec, "text-to-video", TextToVideoRequest(prompt="x", steps=500), 1)
    assert err.value.code == "limit_exceeded" and err.value.errors[0]["field"] == "steps"
    assert "at most 100 steps" in err.value.detail


def test_style_templates_wrap_the_prompt_without_interpreting_it(registry) -> None:
    spec = registry.models["ltx-video"]
    req = TextToVideoRequest(prompt="a {weird} prompt {0}", style="cinematic", negative_prompt="text")
    plan = plan_generation(registry, spec, "text-to-video", req, 1)
    assert plan.prompt.startswith("cinematic shot of a {weird} prompt {0},")
    assert plan.negative_prompt.startswith("text, cartoon")


def test_batch_key_ignores_prompt_and_seed_but_not_steps(registry) -> None:
    spec = registry.models["ltx-video"]
    one = plan_generation(registry, spec, "text-to-video", TextToVideoRequest(prompt="a"), 1)
    two = plan_generation(registry, spec, "text-to-video", TextToVideoRequest(prompt="b", negative_prompt="c"), 2)
    other = plan_generation(registry, spec, "text-to-video", TextToVideoRequest(prompt="a", steps=20), 1)
    assert one.batch_key == two.batch_key != other.batch_key


def test_a_registry_with_an_unsupported_pipeline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        '[models.x]\npipeline = "FluxPipeline"\nsource = "a/b"\nkinds = ["text-to-video"]\n'
        "constraints = { max_frames = 9, default_frames = 9, default_width = 64, default_height = 64, "
        "max_width = 64, max_height = 64, default_fps = 8, default_steps = 2, max_steps = 4, default_guidance = 1 }\n"
    )
    with pytest.raises(SettingsError, match="FluxPipeline is not supported"):
        load_registry(load_settings(environ={"VIDEOAPI_GENERATION__MODELS_FILE": str(path)}))
