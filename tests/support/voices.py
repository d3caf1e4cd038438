"""A tiny random-weight VITS voice, built from a config and saved in the transformers layout.

It goes through the same loader (`VitsModel.from_pretrained`, `VitsTokenizer.from_pretrained`) as real
weights from `videoapi models download`; it says nothing intelligible, but its length, sampling rate
and loudness are real outputs of the model.
"""

from __future__ import annotations

import json
from pathlib import Path

ALPHABET = "_ abcdefghijklmnopqrstuvwxyz'.,!?"
SAMPLE_RATE = 16000


def make_tiny_voice(folder: Path, *, seed: int = 0) -> Path:
    """Write config.json, model.safetensors, vocab.json and the tokenizer config of a ~100 kB VITS into `folder`."""
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.json"
    vocab.write_text(json.dumps({c: i for i, c in enumerate(ALPHABET)}), encoding="utf-8")
    tokenizer = VitsTokenizer(str(vocab), pad_token="_", unk_token="_", add_blank=True, normalize=True, phonemize=False)
    config = VitsConfig(
        vocab_size=len(ALPHABET),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        flow_size=16,
        spectrogram_bins=33,
        upsample_initial_channel=16,
        upsample_rates=[8, 8, 4],
        upsample_kernel_sizes=[16, 16, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        duration_predictor_num_flows=1,
        duration_predictor_filter_channels=16,
        depth_separable_num_layers=1,
        duration_predictor_flow_bins=4,
        sampling_rate=SAMPLE_RATE,
    )
    torch.manual_seed(seed)
    VitsModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
