"""Vision models of the registry (kinds `matting` and `segmentation`) and the masks they compute.

`registry` reads their `[models.NAME]` tables; `masks` streams a video through one of them and
writes a grayscale mask video at a reduced size, which an edit then applies in one ffmpeg pass.
"""

from videoapi.vision.registry import (
    VISION_KINDS,
    VisionKind,
    VisionSpec,
    load_vision_models,
    pick_vision_model,
    require_vision_weights,
    vision_install_hint,
    vision_weights,
)

__all__ = [
    "VISION_KINDS",
    "VisionKind",
    "VisionSpec",
    "load_vision_models",
    "pick_vision_model",
    "require_vision_weights",
    "vision_install_hint",
    "vision_weights",
]
