"""The table of generation kinds: each kind's route, task kind, request type and summaries.

Routes, batches and workers all read this table, as editing's read `editing.kinds.KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from videoapi.generation.registry import Kind
from videoapi.generation.schemas import ImageToVideoRequest, StyleTransferRequest, TextToVideoRequest

GPU_QUEUE = "gpu"
CPU_QUEUE = "cpu"


@dataclass(frozen=True)
class GenerationKind:
    path: Kind
    """The route under /v1/video/generate/ and the registry's kind, e.g. `text-to-video`."""
    kind: str
    """The task kind, e.g. `generate.text_to_video`."""
    request_type: type
    summary: str
    """The create route's summary in the OpenAPI document."""


KINDS: dict[Kind, GenerationKind] = {
    spec.path: spec
    for spec in (
        GenerationKind("text-to-video", "generate.text_to_video", TextToVideoRequest, "Generate a video from text"),
        GenerationKind("image-to-video", "generate.image_to_video", ImageToVideoRequest, "Animate an image"),
        GenerationKind(
            "style-transfer",
            "generate.style_transfer",
            StyleTransferRequest,
            "Restyle a video (classical filter on the CPU, or a diffusion model)",
        ),
    )
}
TASK_KINDS: dict[Kind, str] = {path: spec.kind for path, spec in KINDS.items()}
KIND_OF_TASK: dict[str, Kind] = {spec.kind: path for path, spec in KINDS.items()}
REQUEST_TYPES: dict[Kind, type] = {path: spec.request_type for path, spec in KINDS.items()}
