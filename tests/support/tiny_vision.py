"""Tiny matting and segmentation models, built from configs with random weights (no download).

`build_segformer` is a 4-stage SegFormer with a `person` class; `build_sam2` is a SAM 2 video model
at 128 px (Hiera with 5 blocks, 128-wide prompt encoder and mask decoder, SAM 2's 64-channel memory,
which its memory attention requires). Both are saved with save_pretrained, so the worker loads them
back through the registry exactly like real weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import Sam2VideoConfig, Sam2VideoModel, SegformerConfig, SegformerForSemanticSegmentation

SAM2_SIZE = 128


def build_segformer(path: Path) -> Path:
    config = SegformerConfig(
        num_channels=3, num_encoder_blocks=4, depths=[1, 1, 1, 1], sr_ratios=[8, 4, 2, 1], hidden_sizes=[8, 16, 24, 32],
        num_attention_heads=[1, 1, 1, 1], decoder_hidden_size=16, id2label={0: "wall", 1: "person"},
        label2id={"wall": 0, "person": 1},
    )  # fmt: skip
    torch.manual_seed(0)
    SegformerForSemanticSegmentation(config).save_pretrained(path)
    processor = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    (path / "preprocessor_config.json").write_text(json.dumps(processor), encoding="utf-8")
    return path


def sam2_config(size: int = SAM2_SIZE) -> Sam2VideoConfig:
    backbone = {
        "model_type": "sam2_hiera_det_model", "hidden_size": 16, "num_attention_heads": 1, "image_size": [size, size],
        "blocks_per_stage": [1, 1, 2, 1], "embed_dim_per_stage": [16, 32, 64, 128],
        "num_attention_heads_per_stage": [1, 1, 1, 1], "window_size_per_stage": [8, 4, 4, 2],
        "global_attention_blocks": [3], "window_positional_embedding_background_size": [4, 4],
    }  # fmt: skip
    vision = {
        "backbone_config": backbone, "backbone_channel_list": [128, 64, 32, 16], "fpn_hidden_size": 128,
        "backbone_feature_sizes": [[size // 4] * 2, [size // 8] * 2, [size // 16] * 2],
    }  # fmt: skip
    return Sam2VideoConfig(
        vision_config=vision, image_size=size,
        prompt_encoder_config={"hidden_size": 128, "image_size": size, "patch_size": 16, "mask_input_channels": 4},
        mask_decoder_config={"hidden_size": 128, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
        memory_attention_hidden_size=128, memory_attention_num_layers=1, memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=[size // 16, size // 16], memory_encoder_hidden_size=128,
        memory_encoder_output_channels=64, mask_downsampler_embed_dim=128, memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=64,
    )  # fmt: skip


def build_sam2(path: Path) -> Path:
    torch.manual_seed(0)
    Sam2VideoModel(sam2_config()).save_pretrained(path)
    return path
