"""`generation.py --real-size`: each registered generation family's real denoiser (and VAE), built from its
published configuration (scripts/bench/real_configs/*.json) with random weights, nothing downloaded.

Text and image encoders are not built: their outputs are replaced by random embeddings of the published
shape (T5/UMT5 4096-wide, CLIP 768 or 1024), so what is timed is the denoiser's steps (and one VAE decode).
Every step runs the conditional and the unconditional pass in one doubled batch (classifier-free guidance,
as the LTX, CogVideoX, SVD and AnimateDiff pipelines do; Wan's pipeline makes two calls of the same size).

On a CUDA device it runs at the registry's default size, frames and steps; on the CPU at a reduced size
(--cpu-width/--cpu-height/--cpu-frames, --cpu-steps timed steps) and says so. Per-video figures at the
default size on the CPU are extrapolations (labelled): measured seconds per step x default steps, scaled
linearly by the latent size, a lower bound since self-attention grows quadratically.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import signal
import statistics
import time
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = Path(__file__).resolve().parent / "real_configs"

# Reference figures from outside this project, printed beside ours.
ANCHORS = {
    "ltx-video": "vendor: 5 s of 768x512 (121 frames) in about 2 s on an H100",
    "wan": "Wan2.1-1.3B 480p, 50 steps, about 95 s of denoising on an H200",
}


@dataclass(frozen=True)
class Geometry:
    """How pixels map to the denoiser's latent: spatial / temporal compression, channels, text tokens."""

    spatial: int
    temporal: int  # 0: one latent per frame (SVD, AnimateDiff)
    channels: int
    text_tokens: int
    text_dim: int


GEOMETRY = {
    "ltx-video": Geometry(32, 8, 128, 128, 4096),
    "wan": Geometry(8, 4, 16, 512, 4096),
    "wan-i2v-14b": Geometry(8, 4, 16, 512, 4096),
    "cogvideox": Geometry(8, 4, 16, 226, 4096),
    "svd": Geometry(8, 0, 4, 1, 1024),
    "animatediff": Geometry(8, 0, 4, 77, 768),
}

# --int8 / --fp8 case -> the registry's `quantize` method (videoapi.generation.quantize, the loader's code).
QUANTIZED = {"int8": "int8-weight-only", "fp8": "float8-weight-only"}

# Smallest frame count each family accepts at the reduced CPU size (its frames rule).
CPU_FRAMES = {"ltx-video": 9, "wan": 5, "wan-i2v-14b": 5, "cogvideox": 9, "svd": 4, "animatediff": 4}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("--real-size")
    g.add_argument("--real-size", action="store_true", help="published architectures, random weights (see README)")
    g.add_argument("--families", default="", help="comma-separated subset of real_configs (default: all)")
    g.add_argument("--batches", default="1,4", help="batch sizes (requests per call), default 1,4")
    g.add_argument("--dtypes", default="float32,bfloat16", help="default float32,bfloat16")
    g.add_argument("--compile", action="store_true", help="also time torch.compile'd steps (slow to compile on a CPU)")
    g.add_argument("--compile-timeout", type=int, default=600, help="seconds allowed for one compile (default 600)")
    g.add_argument("--int8", action="store_true", help="also time int8 weight-only quantization (torchao), batch 1, "
                   "each --dtypes: the registry's `quantize = \"int8-weight-only\"`")  # fmt: skip
    g.add_argument("--fp8", action="store_true", help="also time float8 weight-only quantization, bf16 batch 1 "
                   "(CUDA, compute capability 8.9+; on the CPU the row says it is not measured)")  # fmt: skip
    g.add_argument("--offload", action="store_true", help="also time CPU offload of the denoiser (CUDA only)")
    g.add_argument("--no-vae", action="store_true", help="skip the VAE decode")
    g.add_argument("--cpu-width", type=int, default=128)
    g.add_argument("--cpu-height", type=int, default=128)
    g.add_argument("--cpu-frames", type=int, default=0, help="default: each family's smallest (9, 5, 9, 4, 4)")
    g.add_argument("--cpu-steps", type=int, default=2, help="timed steps per case on the CPU (after one warm-up)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import diffusers
    import torch

    warnings.filterwarnings("ignore")
    diffusers.utils.logging.set_verbosity_error()  # "modules that should be kept in float32" on every cast
    device = "cuda" if torch.cuda.is_available() else "cpu"
    machine = _machine(device)
    _print_machine(machine)
    registry = tomllib.loads((ROOT / "config" / "models.toml").read_text())["models"]
    wanted = {f for f in args.families.split(",") if f}
    results: list[dict[str, Any]] = []
    for path in sorted(CONFIGS.glob("*.json")):
        spec = json.loads(path.read_text())
        if wanted and spec["family"] not in wanted:
            continue
        results.append(_bench_family(args, spec, registry, device))
        gc.collect()
    machine["load_after"] = list(os.getloadavg())
    print(f"load average after: {machine['load_after']}")
    return {"machine": machine, "families": results}


def _bench_family(
    args: argparse.Namespace, spec: dict[str, Any], registry: dict[str, Any], device: str
) -> dict[str, Any]:
    import torch

    from videoapi.generation.quantize import weight_bytes

    family = spec["family"]
    geo = GEOMETRY[family]
    entry = registry[spec["registry"][0]]
    c = entry["constraints"]
    full = {"width": c["default_width"], "height": c["default_height"], "frames": c["default_frames"]}
    steps = c["default_steps"]
    size = dict(full)
    if device == "cpu":
        size = {
            "width": args.cpu_width,
            "height": args.cpu_height,
            "frames": args.cpu_frames or CPU_FRAMES[family],
        }
    den_cls = spec["denoiser"]["class"]
    print(f"\n== {family}: {den_cls} ({', '.join(spec['registry'])}), registry default "
          f"{full['width']}x{full['height']} x {full['frames']} frames, {steps} steps")  # fmt: skip
    out: dict[str, Any] = {"family": family, "class": den_cls, "default": full | {"steps": steps}, "cases": []}
    if device == "cpu":
        print(f"   REDUCED SIZE (CPU): {size['width']}x{size['height']} x {size['frames']} frames "
              f"instead of {full['width']}x{full['height']} x {full['frames']}; {args.cpu_steps} timed steps "
              f"instead of {steps}")  # fmt: skip
    out["measured_size"] = size

    model = _build(spec["denoiser"])
    params = sum(p.numel() for p in model.parameters())
    out["params"] = params
    need = params * 4 * 1.25 if "float32" in args.dtypes else params * 2 * 1.25
    avail = _available_bytes(device)
    print(f"   {params / 1e9:.2f}B parameters; needs about {need / 2**30:.1f} GiB, {avail / 2**30:.1f} GiB available")
    if need > avail:
        print("   SKIPPED: the weights alone do not fit this machine's memory")
        out["skipped"] = "does not fit memory"
        return out
    t = time.perf_counter()
    model = _materialize(model, torch.float32 if "float32" in args.dtypes else torch.bfloat16, device)
    print(f"   built with random weights in {time.perf_counter() - t:.1f} s")

    latent = _latent_shape(geo, size)
    latent_full = _latent_shape(geo, full)
    scale = _numel(latent_full) / _numel(latent)
    timed_steps = args.cpu_steps if device == "cpu" else steps
    print(f"   latent {latent} (default size: {latent_full}, {scale:.1f}x the elements); text/image context: "
          f"random {geo.text_tokens} x {geo.text_dim} embedding (encoder not built)")  # fmt: skip

    cases: list[tuple[str, Any, int, str]] = []
    for dtype_name in args.dtypes.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            cases.append((dtype_name, getattr(torch, dtype_name), batch, "eager"))
    if args.compile:
        cases.append(("bfloat16", torch.bfloat16, 1, "compile"))
    if args.int8:
        cases += [(name, getattr(torch, name), 1, "int8") for name in args.dtypes.split(",")]
    if args.fp8:
        cases.append(("bfloat16", torch.bfloat16, 1, "fp8"))
    if args.offload:
        cases.append(("bfloat16", torch.bfloat16, 1, "offload"))

    print(f"   {'dtype':9} {'batch':>5} {'mode':8} {'s/step':>9} {'s/video':>9} {'weights':>9}  note")
    for index, (dtype_name, dtype, batch, mode) in enumerate(cases):
        row: dict[str, Any] = {"dtype": dtype_name, "batch": batch, "mode": mode}
        if mode == "offload" and device == "cpu":
            _row(row, "not meaningful on the CPU: the weights already live in host RAM")
            out["cases"].append(row)
            continue
        try:
            model = model.to(dtype)
            fn: Callable[..., Any] = model
            if mode in QUANTIZED:
                unavailable = _quantize(model, family, QUANTIZED[mode], device)
                if unavailable:
                    _row(row, unavailable)
                    out["cases"].append(row)
                    continue
            elif mode == "compile":
                fn = torch.compile(model)
            elif mode == "offload":
                from accelerate import cpu_offload

                model = model.to("cpu")
                cpu_offload(model, execution_device=torch.device(device))
            inputs: Any = _inputs(family, geo, latent, batch, dtype, device)
            with torch.inference_mode():
                t = time.perf_counter()
                with _timeout(args.compile_timeout if mode == "compile" else 0):
                    fn(**inputs)  # warm-up (and the compile)
                warm_s = time.perf_counter() - t
                per = []
                for _ in range(timed_steps):
                    t = time.perf_counter()
                    fn(**inputs)
                    if device == "cuda":
                        torch.cuda.synchronize()
                    per.append(time.perf_counter() - t)
            step_s = statistics.median(per)
            row |= {"step_s": step_s, "steps_timed": len(per), "warmup_s": warm_s, "weight_bytes": weight_bytes(model)}
            row["video_s"] = step_s * steps / batch  # per video, at the measured size, the default steps
            note = f"per video = s/step x {steps} steps / {batch}"
            if mode == "compile":
                note += f"; compile + first step {warm_s:.0f} s"
            if device == "cpu":
                row["video_s_full_extrapolated"] = full_s = row["video_s"] * scale
                note += f"; EXTRAPOLATED to the default size (x{scale:.1f}, linear): {full_s:.0f} s"
            _row(row, note)
            if mode in QUANTIZED and index < len(cases) - 1:
                del fn
                model = _build(spec["denoiser"])  # quantize_ changed the model in place
                model = _materialize(model, dtype, device)
        except TimeoutError:
            _row(row, f"compile did not finish within {args.compile_timeout} s (--compile-timeout)")
        except Exception as exc:  # one failing case must not lose the others' figures
            _row(row, f"failed: {type(exc).__name__}: {str(exc)[:160]}")
        out["cases"].append(row)
        fn = inputs = None  # type: ignore[assignment]
        gc.collect()
    if family in ANCHORS:
        print(f"   anchor: {ANCHORS[family]}")
    del model, fn
    _free()
    if not args.no_vae and "vae" in spec:
        out["vae"] = _bench_vae(spec["vae"], family, latent, device)
    return out


def _row(row: dict[str, Any], note: str) -> None:
    step = f"{row['step_s']:9.2f}" if "step_s" in row else f"{'-':>9}"
    video = f"{row['video_s']:9.1f}" if "video_s" in row else f"{'-':>9}"
    weights = f"{row['weight_bytes'] / 2**30:7.2f}Gi" if "weight_bytes" in row else f"{'-':>9}"
    row["note"] = note
    print(f"   {row['dtype']:9} {row['batch']:>5} {row['mode']:8} {step} {video} {weights}  {note}", flush=True)


def _bench_vae(vae_spec: dict[str, Any], family: str, latent: tuple[int, ...], device: str) -> dict[str, Any]:
    import torch

    vae = _materialize(_build(vae_spec), torch.float32, device)
    c, f, h, w = latent[1], latent[2], latent[3], latent[4]
    with torch.inference_mode():
        if family in ("svd", "animatediff"):
            z = torch.randn(f, c, h, w, device=device)
            kwargs = {"num_frames": f} if family == "svd" else {}
        else:
            z = torch.randn(1, c, f, h, w, device=device)
            kwargs = {}
        t = time.perf_counter()
        vae.decode(z, return_dict=False, **kwargs)
        s = time.perf_counter() - t
    print(f"   VAE {vae_spec['class']} decode of one video at the measured size, float32: {s:.2f} s")
    del vae, z
    _free()
    return {"class": vae_spec["class"], "decode_s": s}


def _free() -> None:
    """Hand freed weights back to the system before the next family is built (glibc keeps them otherwise)."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def _latent_shape(geo: Geometry, size: dict[str, int]) -> tuple[int, int, int, int, int]:
    frames = (size["frames"] - 1) // geo.temporal + 1 if geo.temporal else size["frames"]
    return (1, geo.channels, frames, size["height"] // geo.spatial, size["width"] // geo.spatial)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _inputs(family: str, geo: Geometry, latent: tuple[int, ...], batch: int, dtype: Any, device: str) -> dict[str, Any]:
    """The denoiser's call for one step of `batch` requests with guidance (2 x batch rows)."""
    import torch

    n = 2 * batch
    _, c, f, h, w = latent
    text = torch.randn(n, geo.text_tokens, geo.text_dim, dtype=dtype, device=device)
    t = torch.full((n,), 500.0, device=device)
    if family == "ltx-video":
        return {
            "hidden_states": torch.randn(n, f * h * w, c, dtype=dtype, device=device),
            "encoder_hidden_states": text,
            "timestep": t,
            "encoder_attention_mask": torch.ones(n, geo.text_tokens, device=device),
            "num_frames": f,
            "height": h,
            "width": w,
            "return_dict": False,
        }
    if family == "wan":
        return {"hidden_states": torch.randn(n, c, f, h, w, dtype=dtype, device=device), "timestep": t,
                "encoder_hidden_states": text, "return_dict": False}  # fmt: skip
    if family == "wan-i2v-14b":
        # 16 noisy + 20 image-condition channels (mask and first-frame latents), 257 CLIP image tokens.
        return {"hidden_states": torch.randn(n, 36, f, h, w, dtype=dtype, device=device), "timestep": t,
                "encoder_hidden_states": text, "return_dict": False,
                "encoder_hidden_states_image": torch.randn(n, 257, 1280, dtype=dtype, device=device)}  # fmt: skip
    if family == "cogvideox":
        return {"hidden_states": torch.randn(n, f, c, h, w, dtype=dtype, device=device), "timestep": t.long(),
                "encoder_hidden_states": text, "return_dict": False}  # fmt: skip
    if family == "svd":
        # Noisy latents + the conditioning image's latents (8 channels); fps-1, motion bucket, noise aug.
        ids = torch.tensor([[6.0, 127.0, 0.02]], dtype=dtype, device=device).repeat(n, 1)
        return {"sample": torch.randn(n, f, 2 * c, h, w, dtype=dtype, device=device), "timestep": t,
                "encoder_hidden_states": text, "added_time_ids": ids, "return_dict": False}  # fmt: skip
    if family == "animatediff":
        # UNetMotionModel (diffusers 0.42) runs its spatial layers on batch x frames rows and does not repeat
        # the text context itself: one copy per frame, as the pipeline's call ends up with.
        return {"sample": torch.randn(n, c, f, h, w, dtype=dtype, device=device), "timestep": t,
                "encoder_hidden_states": text.repeat_interleave(f, dim=0), "return_dict": False}  # fmt: skip
    raise ValueError(family)


def _build(part: dict[str, Any]) -> Any:
    import diffusers
    from accelerate import init_empty_weights

    cls = getattr(diffusers, part["class"])
    with init_empty_weights():  # parameters on the meta device; buffers (RoPE tables) real
        return cls.from_config(part["config"])


def _materialize(model: Any, dtype: Any, device: str) -> Any:
    """Random weights (normal, std 0.02) for every meta parameter, directly in `dtype`: no default init pass."""
    import torch
    from accelerate.utils import set_module_tensor_to_device

    gen = torch.Generator(device=device).manual_seed(0)
    for name, p in list(model.named_parameters()):
        value = torch.empty(p.shape, dtype=dtype, device=device).normal_(0.0, 0.02, generator=gen)
        set_module_tensor_to_device(model, name, device, value=value)
    return model.to(device).eval()


def _quantize(model: Any, family: str, method: str, device: str) -> str | None:
    """Quantize the denoiser in place the way the registry's `quantize = method` does at load; or why not."""
    from videoapi.generation.quantize import QuantizationUnavailable, check_usable, quantize_module

    try:
        check_usable(family, method, device)
    except QuantizationUnavailable as exc:
        return f"not measured: {exc.detail}"
    quantize_module(model, method)
    return None


class _timeout:
    """SIGALRM-based limit for a compile (0: none); the main thread gets TimeoutError."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        if self.seconds:
            signal.signal(signal.SIGALRM, self._fire)
            signal.alarm(self.seconds)

    def __exit__(self, *exc: object) -> None:
        if self.seconds:
            signal.alarm(0)

    @staticmethod
    def _fire(*_: object) -> None:
        raise TimeoutError


def _available_bytes(device: str) -> int:
    import torch

    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def _machine(device: str) -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_before": list(os.getloadavg()),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "platform": platform.platform(),
    }


def _print_machine(m: dict[str, Any]) -> None:
    print("Generation at real size: published architectures, random weights, nothing downloaded")
    print(f"machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads); {m['platform']}")
    print(f"torch {m['torch']}; device: {m['device']}; load average before: {m['load_before']}")
    if m["device"] == "cpu":
        print("NO GPU: every figure below is from the CPU at a REDUCED size; per-video figures at the default size "
              "are EXTRAPOLATED (linear in latent size: a lower bound)")  # fmt: skip
    for family, text in ANCHORS.items():
        print(f"anchor ({family}): {text}")
