"""Benchmark generation on whatever device is present: seconds per video, the batching speed-up, and
the platform's own overhead per task.

    .venv/bin/python scripts/bench/generation.py [--model NAME] [--batch 8] [--steps 20] [--frames 25]
                                                 [--width 128] [--height 128] [--json PATH]
    .venv/bin/python scripts/bench/generation.py --real-size [--families ltx-video,wan] [--batches 1,4]
                                                 [--dtypes float32,bfloat16] [--compile] [--int8] [--offload]

--real-size builds every registered family's published architecture with random weights instead and times
its denoising steps (scripts/bench/real_size.py, scripts/bench/README.md "Generation at real size").

Without --model it builds a tiny LTX-Video pipeline from configs with random weights (the one the tests
use, tests/support/tiny.py) and registers it in a throwaway registry, so it runs on a CPU without
any download. With --model it uses that entry of the configured registry (its weights must be installed).

1. Model: after a warm-up, N single calls vs one batched call of N requests through the worker's own
   call path (videoapi.generation.batch), on the loaded pipeline: seconds per video and the speed-up.
2. Platform: N requests through the whole product in-process (HTTP submit, claim of one batch of N,
   the same pipeline call, encode, store, finish, polling). Overhead per task = (first submit to last
   result - the batched model call - the configured batch wait) / N, shown as a fraction of the model
   time per task (model call / N).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="registry model name (default: a tiny LTX built here)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--json", type=Path)
    import real_size  # scripts/bench, sys.path[0] when this file runs as a script

    real_size.add_arguments(parser)
    args = parser.parse_args()
    if args.real_size:
        figures = real_size.run(args)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        return
    for name in [k for k in os.environ if k.startswith("VIDEOAPI_")]:
        if args.model is None:
            del os.environ[name]  # the tiny setup is self-contained

    with tempfile.TemporaryDirectory(prefix="videoapi-bench-gen-") as tmp:
        work = Path(tmp)
        env = _environment(args, work)
        figures = {"machine": _machine(), "args": {k: str(v) for k, v in vars(args).items()}}
        figures["model"] = _bench_model(args, env, work)
        figures["platform"] = _bench_platform(args, env, work)
    _report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def _environment(args: argparse.Namespace, work: Path) -> dict[str, str]:
    env = {
        "VIDEOAPI_SERVER__VAR_DIR": str(work / "var"),
        "VIDEOAPI_SERVER__ENVIRONMENT": "test",
        "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
        "VIDEOAPI_GENERATION__MAX_BATCH": str(args.batch),
        "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "100000",
        "VIDEOAPI_GATEWAY__DEFAULT_BURST": "100000",
        "VIDEOAPI_LOG__LEVEL": "warning",
    }
    if args.model is None:
        from tests.support import tiny

        model_dir = tiny.build_ltx(work / "tiny-ltx")
        limits = (
            "{ frames_rule = '8k+1', min_frames = 9, max_frames = 257, default_frames = 25, size_multiple = 32, "
            "default_width = 128, default_height = 128, max_width = 1024, max_height = 1024, default_fps = 24, "
            "default_steps = 20, max_steps = 500, default_guidance = 3.0 }"
        )
        registry = work / "models.toml"
        registry.write_text(
            '[defaults]\ntext-to-video = "tiny-ltx"\n[models.tiny-ltx]\npipeline = "LTXPipeline"\n'
            f'source = "{model_dir}"\nkinds = ["text-to-video"]\ncall = {{ max_sequence_length = 16 }}\n'
            f"constraints = {limits}\n"
        )
        env["VIDEOAPI_GENERATION__MODELS_FILE"] = str(registry)
        args.model = "tiny-ltx"
    os.environ.update(env)
    return env


def _request(args: argparse.Namespace, i: int) -> dict[str, Any]:
    return {
        "prompt": f"a red fox runs on the beach {i}",
        "model": args.model,
        "num_frames": args.frames,
        "width": args.width,
        "height": args.height,
        "steps": args.steps,
        "seed": i,
    }


def _bench_model(args: argparse.Namespace, env: dict[str, str], work: Path) -> dict[str, Any]:
    import msgspec

    from videoapi.generation.batch import Member, _call
    from videoapi.generation.cache import CACHE
    from videoapi.generation.pipelines.common import CallItem
    from videoapi.generation.plan import pick_model, plan_generation
    from videoapi.generation.registry import load_registry
    from videoapi.generation.schemas import TextToVideoRequest
    from videoapi.queue.jobs import JobContext
    from videoapi.settings import load_settings

    settings = load_settings()
    registry = load_registry(settings)
    spec = pick_model(registry, "text-to-video", args.model)
    started = time.perf_counter()
    loaded = CACHE.get(settings, spec)
    load_s = time.perf_counter() - started

    def members(n: int, steps: int | None = None) -> list[Member]:
        out = []
        for i in range(n):
            body = _request(args, i) | ({"steps": steps} if steps else {})
            req = msgspec.convert(body, TextToVideoRequest)
            plan = plan_generation(registry, spec, "text-to-video", req, i)
            ctx = JobContext(None, SimpleNamespace(id=f"bench-{i}"), work, 3600.0)  # type: ignore[arg-type]
            out.append(Member(ctx, spec, plan, CallItem(plan)))
        return out

    _call(loaded, members(1, steps=2))  # warm-up: first-call allocations, kernels
    singles = []
    for i in range(args.batch):
        m = members(args.batch)[i : i + 1]
        t = time.perf_counter()
        _call(loaded, m)
        singles.append(time.perf_counter() - t)
    t = time.perf_counter()
    _call(loaded, members(args.batch))
    batch_s = time.perf_counter() - t
    CACHE.clear()
    return {
        "device": loaded.device,
        "load_s": load_s,
        "single_s": statistics.median(singles),
        "singles_total_s": sum(singles),
        "batch_s": batch_s,
        "batch_per_video_s": batch_s / args.batch,
        "speedup": sum(singles) / batch_s,
    }


def _bench_platform(args: argparse.Namespace, env: dict[str, str], work: Path) -> dict[str, Any]:
    from litestar.testing import TestClient

    from tests.support.app import create_key
    from videoapi.app import create_app
    from videoapi.db.migrate import upgrade
    from videoapi.settings import load_settings

    wait_ms = 300
    os.environ["VIDEOAPI_GENERATION__BATCH_WAIT_MS"] = str(wait_ms)
    settings = load_settings()
    upgrade(settings.database_url)
    key = create_key(settings, "bench")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings), base_url="http://testserver.local") as client:
        # Warm-up request: loads the pipeline so that loading is not counted as overhead.
        warm = client.post("/v1/video/generate/text-to-video", json=_request(args, 99) | {"steps": 2}, headers=headers)
        _wait(client, headers, [warm.json()["id"]])
        started = time.perf_counter()
        ids = []
        for i in range(args.batch):
            resp = client.post("/v1/video/generate/text-to-video", json=_request(args, i), headers=headers)
            assert resp.status_code == 202, resp.text
            ids.append(resp.json()["id"])
        tasks = _wait(client, headers, ids)
        wall_s = time.perf_counter() - started
    gens = [t["result"]["generation"] for t in tasks]
    sizes = {g["batch_size"] for g in gens}
    model_s = max(g["timings"]["model_s"] for g in gens)
    overhead_s = (wall_s - model_s - wait_ms / 1000) / args.batch
    return {
        "wall_s": wall_s,
        "batch_sizes": sorted(sizes),
        "model_call_s": model_s,
        "batch_wait_s": wait_ms / 1000,
        "overhead_per_task_s": overhead_s,
        "model_per_task_s": model_s / args.batch,
        "overhead_fraction": overhead_s / (model_s / args.batch),
        "encode_s_mean": statistics.mean(g["timings"]["encode_s"] for g in gens),
    }


def _wait(client: Any, headers: dict[str, str], ids: list[str], timeout_s: float = 1800) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(ids):
        for task_id in ids:
            if task_id in done:
                continue
            task = client.get(f"/v1/video/tasks/{task_id}", headers=headers).json()
            if task["status"] in ("succeeded", "failed", "canceled"):
                if task["status"] != "succeeded":
                    raise SystemExit(f"task {task_id} {task['status']}: {task['error']}")
                done[task_id] = task
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the tasks")
        time.sleep(0.02)
    return [done[i] for i in ids]


def _machine() -> dict[str, Any]:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(), "gpu": gpu}


def _report(f: dict[str, Any]) -> None:
    m, p, a = f["model"], f["platform"], f["args"]
    print(f"model {a['model']} on {m['device']} ({f['machine']['gpu'] or str(f['machine']['cpus']) + ' CPUs'}): "
          f"{a['frames']} frames {a['width']}x{a['height']}, {a['steps']} steps")  # fmt: skip
    print(f"  load                      {m['load_s']:8.2f} s")
    print(f"  one video alone           {m['single_s']:8.2f} s")
    print(f"  {a['batch']} alone, one by one      {m['singles_total_s']:8.2f} s")
    print(f"  {a['batch']} in one batch           {m['batch_s']:8.2f} s  ({m['batch_per_video_s']:.2f} s per video)")
    print(f"  batching speed-up         {m['speedup']:8.2f}x")
    print(f"platform, {a['batch']} requests end to end (batch sizes {p['batch_sizes']}):")
    print(f"  first submit to last result {p['wall_s']:6.2f} s (model call {p['model_call_s']:.2f} s, "
          f"batch wait {p['batch_wait_s']:.2f} s)")  # fmt: skip
    print(f"  overhead per task         {p['overhead_per_task_s']:8.3f} s  (encode {p['encode_s_mean']:.3f} s of it)")
    print(f"  model time per task       {p['model_per_task_s']:8.3f} s")
    print(f"  overhead / model time     {p['overhead_fraction']:8.1%}")


if __name__ == "__main__":
    main()
