"""Tiny pipelines of every supported family, built from configs with random weights (no download).

The component configs follow the shapes diffusers' own fast tests use; the tokenizer is a word-level
tokenizer built here. `build_all(root)` saves each pipeline with save_pretrained, so the worker loads
it back through the registry exactly like real weights.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AnimateDiffVideoToVideoPipeline,
    AutoencoderKL,
    AutoencoderKLLTXVideo,
    AutoencoderKLTemporalDecoder,
    AutoencoderKLWan,
    DDIMScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    LTXImageToVideoPipeline,
    LTXPipeline,
    LTXVideoTransformer3DModel,
    MotionAdapter,
    StableVideoDiffusionPipeline,
    UNet2DConditionModel,
    UNetSpatioTemporalConditionModel,
    WanPipeline,
    WanTransformer3DModel,
)
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    CLIPImageProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    PreTrainedTokenizerFast,
    T5Config,
    T5EncoderModel,
    UMT5Config,
    UMT5EncoderModel,
)

WORDS = "a the of in on and cat dog fox bird runs flies walks sea sky beach city forest night red blue green".split()


def tokenizer(max_length: int) -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=max_length
    )


def _ltx_parts() -> dict[str, Any]:
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=32,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False), decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4, upsample_factor=(1,) * 4, timestep_conditioning=False,
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    )  # fmt: skip
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(
        T5Config(vocab_size=len(WORDS) + 3, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                 relative_attention_num_buckets=8)
    )  # fmt: skip
    return {
        "transformer": transformer,
        "vae": vae,
        "scheduler": FlowMatchEulerDiscreteScheduler(),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer(16),
    }


def build_ltx(path: Path) -> Path:
    LTXPipeline(**_ltx_parts()).save_pretrained(path)
    return path


def build_ltx_i2v(path: Path) -> Path:
    LTXImageToVideoPipeline(**_ltx_parts()).save_pretrained(path)
    return path


def build_wan(path: Path) -> Path:
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])  # fmt: skip
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )  # fmt: skip
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(WORDS) + 3, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                   relative_attention_num_buckets=8)
    )  # fmt: skip
    WanPipeline(
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder=text_encoder,
        tokenizer=tokenizer(16),
    ).save_pretrained(path)
    return path


def build_svd(path: Path) -> Path:
    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
        num_attention_heads=8, projection_class_embeddings_input_dim=96, addition_time_embed_dim=32,
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1,
        timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                                       down_block_types=["DownEncoderBlock2D"] * 2, latent_channels=4)  # fmt: skip
    torch.manual_seed(0)
    # SVD resizes the conditioning image to 224x224 for its CLIP encoder.
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4,
                         image_size=224, intermediate_size=37, patch_size=32)
    )  # fmt: skip
    StableVideoDiffusionPipeline(
        unet=unet,
        image_encoder=image_encoder,
        scheduler=scheduler,
        vae=vae,
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32),
    ).save_pretrained(path)
    return path


def build_animatediff(path: Path) -> Path:
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=2,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4)  # fmt: skip
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(bos_token_id=0, eos_token_id=1, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
                       num_attention_heads=4, num_hidden_layers=2, pad_token_id=0, vocab_size=len(WORDS) + 3,
                       max_position_embeddings=16)
    )  # fmt: skip
    torch.manual_seed(0)
    adapter = MotionAdapter(block_out_channels=(32, 64), motion_layers_per_block=2, motion_norm_num_groups=2,
                            motion_num_attention_heads=4)  # fmt: skip
    AnimateDiffVideoToVideoPipeline(
        unet=unet,
        scheduler=DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False),
        vae=vae,
        motion_adapter=adapter,
        text_encoder=text_encoder,
        tokenizer=tokenizer(16),
        feature_extractor=None,
        image_encoder=None,
    ).save_pretrained(path)
    return path


# ---- pipelines that misbehave on purpose (registered as `tests.support.tiny:Class`) -----------

CALLS: list[tuple[str, int]] = []
"""(class name, batch size) of every call of the instrumented pipelines below, in order."""
STEPS: dict[str, int] = {}
"""Prompt -> the last denoising step the slow pipeline reached."""
_lock = threading.Lock()


def _batch(kwargs: dict[str, Any]) -> int:
    prompt = kwargs.get("prompt")
    return len(prompt) if isinstance(prompt, list) else 1


class SlowLTXPipeline(LTXPipeline):
    """Sleeps 30 ms per step, so a test can cancel during denoising; records how far each prompt got."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        user_callback = kwargs.pop("callback_on_step_end")
        prompts = kwargs["prompt"]

        def slow(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            time.sleep(0.03)
            with _lock:
                for prompt in prompts:
                    STEPS[prompt] = step
            return user_callback(pipe, step, timestep, tensors)

        with _lock:
            CALLS.append((type(self).__name__, _batch(kwargs)))
        return super().__call__(*args, callback_on_step_end=slow, **kwargs)


class OomAboveOneLTXPipeline(LTXPipeline):
    """Runs out of (simulated) CUDA memory whenever it gets more than one request at once."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        size = _batch(kwargs)
        with _lock:
            CALLS.append((type(self).__name__, size))
        if size > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")
        return super().__call__(*args, **kwargs)


class AlwaysOomLTXPipeline(LTXPipeline):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            CALLS.append((type(self).__name__, _batch(kwargs)))
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB (simulated)")
