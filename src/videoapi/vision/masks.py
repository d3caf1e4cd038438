"""Masks of a video from a matting or segmentation model, at a reduced size, streamed to disk.

The input is decoded once by ffmpeg at the model's size (`input_size` on the long side) and read
frame by frame (never the whole video in memory). Each mask is smoothed over time and written as
one frame of a grayscale Y4M file, which the edit's single ffmpeg pass scales up and applies.

- `person`: a semantic-segmentation model; the mask is the probability of the foreground classes,
  smoothed by an exponential moving average over frames, then a soft hysteresis ramp (below `LOW`:
  background, above `HIGH`: subject) so that edges do not flicker between two frames.
- `object`: SAM 2 (transformers `Sam2VideoModel`) in streaming mode, prompted on one frame and
  propagated forwards to the end; the frames before the prompt are tracked backwards by a second
  session fed in reverse, decoded in chunks of `BACKWARD_CHUNK` frames.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
import structlog

from videoapi.media.ffmpeg import stream_frames
from videoapi.media.probe import MediaInfo
from videoapi.media.safety import input_args
from videoapi.settings import Settings
from videoapi.vision.registry import VisionSpec

log = structlog.get_logger(__name__)

LOW, HIGH = 0.3, 0.7
"""Soft hysteresis: smoothed probabilities below LOW are background, above HIGH subject, ramped between."""
BACKWARD_CHUNK = 32
"""Frames decoded at a time for the backward (before the prompt) SAM 2 pass."""
KEEP_MEMORY_FRAMES = 16
"""SAM 2 tracking state kept per object: its memory bank reads the last 7 frames and the object
pointers of the last 16; older outputs are dropped so that a long video costs no more memory."""
BATCH = 8
"""Frames handed to the inference thread at a time (the event loop stays free for heartbeats)."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Prompt:
    """An object prompt in source pixels, on the source's frame `frame`."""

    points: list[tuple[float, float]]
    box: tuple[float, float, float, float] | None
    frame: int


@dataclass(frozen=True)
class MaskVideo:
    path: Path
    width: int
    height: int
    frames: int


def mask_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Even (width, height) with the long side at most `long_side`, keeping the aspect ratio."""
    scale = min(1.0, long_side / max(width, height))
    w = max(2, round(width * scale / 2) * 2)
    h = max(2, round(height * scale / 2) * 2)
    return w, h


class Y4mMaskWriter:
    """A grayscale (`Cmono`) Y4M file written frame by frame, in any order: each frame has a fixed
    place, so a backward pass can write the frames before the prompt after the ones following it."""

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        num, den = _rational(fps)
        self.header = f"YUV4MPEG2 W{width} H{height} F{num}:{den} Ip A1:1 Cmono\n".encode()
        self.frame_bytes = 6 + width * height
        self.width, self.height, self.path = width, height, path
        self.frames = 0
        self._file = path.open("wb")
        self._file.write(self.header)

    def write(self, index: int, mask: np.ndarray) -> None:
        """Write `mask` (height x width, 0..1 floats or uint8) as frame `index`."""
        if mask.dtype != np.uint8:
            mask = np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)
        self._file.seek(len(self.header) + index * self.frame_bytes)
        self._file.write(b"FRAME\n" + np.ascontiguousarray(mask).tobytes())
        self.frames = max(self.frames, index + 1)

    def close(self) -> MaskVideo:
        self._file.close()
        return MaskVideo(self.path, self.width, self.height, self.frames)


def _rational(fps: float) -> tuple[int, int]:
    # 29.97002997... is 30000/1001: the closest fraction with a small denominator is the exact rate.
    rate = Fraction(fps).limit_denominator(1001)
    return rate.numerator, rate.denominator


def smooth(previous: np.ndarray | None, probability: np.ndarray, smoothing: float) -> np.ndarray:
    """Exponential moving average over frames: 0 keeps each frame's own probability."""
    if previous is None:
        return probability
    return smoothing * previous + (1.0 - smoothing) * probability


def hysteresis(probability: np.ndarray) -> np.ndarray:
    """Alpha from a smoothed probability: a soft step from LOW to HIGH (smoothstep)."""
    t = np.clip((probability - LOW) / (HIGH - LOW), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# ---- models ------------------------------------------------------------------------------------

_LOADED: dict[tuple[str, str], Any] = {}
_LOAD_LOCK = threading.Lock()


def model_device(spec: VisionSpec, settings: Settings) -> str:
    import torch

    wanted = spec.device or settings.generation.device
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


def load_model(spec: VisionSpec, folder: Path, device: str) -> Any:
    """The model from `folder` on `device`, loaded once per process (transformers, offline)."""
    with _LOAD_LOCK:
        key = (str(folder), device)
        if key not in _LOADED:
            if spec.architecture == "sam2-video":
                from transformers import Sam2VideoModel

                model = Sam2VideoModel.from_pretrained(folder, local_files_only=True)
            else:
                from transformers import AutoModelForSemanticSegmentation

                model = AutoModelForSemanticSegmentation.from_pretrained(folder, local_files_only=True)
            _LOADED[key] = model.to(device).eval()
        return _LOADED[key]


def normalisation(folder: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of the model's image processor (`preprocessor_config.json`), ImageNet's by default."""
    config = folder / "preprocessor_config.json"
    if config.exists():
        data = json.loads(config.read_text(encoding="utf-8"))
        return tuple(data.get("image_mean", IMAGENET_MEAN)), tuple(data.get("image_std", IMAGENET_STD))
    return IMAGENET_MEAN, IMAGENET_STD


class PersonMatter:
    """Foreground probability per frame from a semantic-segmentation model."""

    def __init__(self, model: Any, spec: VisionSpec, folder: Path, device: str) -> None:
        import torch

        labels = {str(v).split(";")[0].strip().lower(): int(k) for k, v in model.config.id2label.items()}
        wanted = [label.lower() for label in spec.labels]
        self.ids = [labels[label] for label in wanted if label in labels]
        if not self.ids:
            raise ValueError(f"model {spec.name} has none of the classes {spec.labels} (its id2label)")
        mean, std = normalisation(folder)
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.model, self.device = model, device

    def __call__(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        import torch
        import torch.nn.functional as F

        height, width = frames[0].shape[:2]
        with torch.inference_mode():
            x = torch.from_numpy(np.stack(frames)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
            logits = self.model(pixel_values=(x - self.mean) / self.std).logits
            logits = F.interpolate(logits.float(), size=(height, width), mode="bilinear", align_corners=False)
            probability = logits.softmax(dim=1)[:, self.ids].sum(dim=1)
        return list(probability.cpu().numpy())


class ObjectTracker:
    """One SAM 2 streaming session: a prompt on its first frame, then frames in one direction."""

    def __init__(
        self,
        model: Any,
        prompt: Prompt,
        source_size: tuple[int, int],
        reverse: bool,
        device: str,
        keep_frames: int = KEEP_MEMORY_FRAMES,
    ) -> None:
        import torch
        from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

        self.model, self.prompt, self.reverse, self.device = model, prompt, reverse, device
        self.size = int(
            model.config.image_size if isinstance(model.config.image_size, int) else model.config.image_size[0]
        )
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(3, 1, 1)
        self.source_size = source_size
        self.keep_frames = keep_frames
        self.session = Sam2VideoInferenceSession(
            inference_device=device, inference_state_device=device, video_storage_device=device, dtype=torch.float32
        )
        self.prompted = False

    def _add_prompt(self, height: int, width: int) -> None:
        import torch

        sw, sh = self.source_size
        sx, sy = self.size / sw, self.size / sh
        coords = [[x * sx, y * sy] for x, y in self.prompt.points]
        labels = [1] * len(coords)
        if self.prompt.box is not None:
            x0, y0, x1, y1 = self.prompt.box
            # A box is two corner points with SAM's labels 2 and 3, before any click.
            coords = [[x0 * sx, y0 * sy], [x1 * sx, y1 * sy], *coords]
            labels = [2, 3, *labels]
        session = self.session
        session.video_height, session.video_width = height, width
        obj_idx = session.obj_id_to_idx(1)
        points = torch.tensor([[coords]], dtype=torch.float32, device=self.device)
        session.add_point_inputs(
            obj_idx,
            self.prompt.frame,
            {"point_coords": points, "point_labels": torch.tensor([[labels]], dtype=torch.int32, device=self.device)},
        )
        session.obj_with_new_inputs = [1]
        self.prompted = True

    def __call__(self, index: int, frame: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        height, width = frame.shape[:2]
        if not self.prompted:
            self._add_prompt(height, width)
        with torch.inference_mode():
            x = torch.from_numpy(frame.copy()).to(self.device).permute(2, 0, 1).float()[None] / 255.0
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)[0]
            out = self.model(inference_session=self.session, frame=(x - self.mean) / self.std, frame_idx=index,
                             reverse=self.reverse)  # fmt: skip
            masks = F.interpolate(out.pred_masks[:1].float(), size=(height, width), mode="bilinear")
            probability = masks[0, 0].sigmoid().cpu().numpy()
        self._prune(index)
        return probability

    def _prune(self, index: int) -> None:
        session = self.session
        if session.processed_frames:
            for idx in [i for i in session.processed_frames if i != index]:
                del session.processed_frames[idx]
        for outputs in session.output_dict_per_obj.values():
            recent = outputs["non_cond_frame_outputs"]
            for idx in [i for i in recent if abs(i - index) >= self.keep_frames]:
                del recent[idx]


# ---- the passes --------------------------------------------------------------------------------


def _decode_args(src: Path, width: int, height: int, trim: tuple[int, int] | None = None) -> list[str]:
    # Every decoded frame, none dropped nor duplicated, so that mask n is the input's frame n.
    chain = f"trim=start_frame={trim[0]}:end_frame={trim[1]}," if trim else ""
    args = ["-an", "-sn", "-dn", "-threads", "0", *input_args(src), "-map", "0:v:0"]
    args += ["-vf", f"{chain}scale={width}:{height}:flags=area", "-fps_mode", "passthrough"]
    return [*args, "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"]


async def _frames(args: list[str], width: int, height: int, timeout_s: float, settings: Settings):  # type: ignore[no-untyped-def]
    async for raw in stream_frames(
        args, width * height * 3, timeout_s=timeout_s, max_pixels=settings.limits.max_pixels
    ):
        yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)


async def compute_mask(
    mode: Literal["person", "object"],
    spec: VisionSpec,
    folder: Path,
    src: Path,
    media: MediaInfo,
    out: Path,
    settings: Settings,
    *,
    timeout_s: float,
    prompt: Prompt | None = None,
    smoothing: float = 0.5,
    on_progress: Callable[[float], None] | None = None,
) -> MaskVideo:
    """Write the mask video of `src` to `out` (Y4M, gray) and return its geometry.

    `timeout_s` bounds each decode, which lives as long as the model takes to read its frames: the
    task's own time limit, so that a slow CPU is stopped by that limit with its usual error."""
    assert media.video is not None
    fps = media.video.fps or 25.0
    width, height = mask_size(media.video.width, media.video.height, spec.input_size)
    device = model_device(spec, settings)
    model = await asyncio.to_thread(load_model, spec, folder, device)
    expected = max(1, round(media.duration_s * fps))
    writer = Y4mMaskWriter(out, width, height, fps)
    done = 0

    def progress() -> None:
        if on_progress is not None:
            on_progress(min(1.0, done / expected))

    log.info("matte.start", mode=mode, model=spec.name, device=device, size=f"{width}x{height}", frames=expected)
    try:
        if mode == "person":
            matter = PersonMatter(model, spec, folder, device)
            state: list[np.ndarray | None] = [None]

            def person_batch(frames: list[np.ndarray], first: int) -> None:
                for k, probability in enumerate(matter(frames)):
                    state[0] = smooth(state[0], probability, smoothing)
                    writer.write(first + k, hysteresis(state[0]))

            batch: list[np.ndarray] = []
            async for frame in _frames(_decode_args(src, width, height), width, height, timeout_s, settings):
                batch.append(frame)
                if len(batch) == BATCH:
                    await asyncio.to_thread(person_batch, batch, done)
                    done += len(batch)
                    batch = []
                    progress()
            if batch:
                await asyncio.to_thread(person_batch, batch, done)
                done += len(batch)
                progress()
        else:
            assert prompt is not None
            source_size = (media.video.width, media.video.height)
            forward = ObjectTracker(model, prompt, source_size, reverse=False, device=device)
            index = 0
            async for frame in _frames(_decode_args(src, width, height), width, height, timeout_s, settings):
                if index >= prompt.frame:
                    writer.write(index, await asyncio.to_thread(forward, index, frame))
                    done += 1
                    progress()
                index += 1
            del forward
            if prompt.frame > 0:
                backward = ObjectTracker(model, prompt, source_size, reverse=True, device=device)
                end = prompt.frame + 1  # the prompted frame seeds the backward session
                while end > 0:
                    start = max(0, end - BACKWARD_CHUNK - (1 if end == prompt.frame + 1 else 0))
                    args = _decode_args(src, width, height, (start, end))
                    chunk = [f async for f in _frames(args, width, height, timeout_s, settings)]
                    for k in range(len(chunk) - 1, -1, -1):
                        probability = await asyncio.to_thread(backward, start + k, chunk[k])
                        if start + k < prompt.frame:
                            writer.write(start + k, probability)
                            done += 1
                    progress()
                    end = start
    finally:
        mask = writer.close()
    log.info("matte.done", mode=mode, frames=mask.frames)
    return mask
