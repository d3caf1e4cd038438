"""The diffusers call conventions the pipeline adapters know, by pipeline class name (a leaf module)."""

from __future__ import annotations

TEXT_TO_VIDEO = frozenset({"LTXPipeline", "WanPipeline", "CogVideoXPipeline"})
IMAGE_TO_VIDEO = frozenset({"LTXImageToVideoPipeline", "WanImageToVideoPipeline", "StableVideoDiffusionPipeline"})
VIDEO_TO_VIDEO = frozenset({"AnimateDiffVideoToVideoPipeline"})
SUPPORTED = TEXT_TO_VIDEO | IMAGE_TO_VIDEO | VIDEO_TO_VIDEO
