"""The benchmarks run as scripts/bench/README.md says: `PYTHONPATH=src .venv/bin/python scripts/bench/NAME.py`,
where the script's own folder, not the repository root, is first on the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]


def test_the_vision_benchmark_builds_its_tiny_models_from_the_tests_support(tmp_path: Path) -> None:
    # It failed with "No module named 'tests'" before the script put the repository root on its path.
    out = tmp_path / "vision.json"
    args = ["--duration", "1", "--naive-frames", "2", "--matting-frames", "2", "--skip-real-size", "--skip-reframe"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench" / "vision.py"), *args, "--json", str(out)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    matting = json.loads(out.read_text())["matting"]
    assert matting and all(run["frames"] == 2 and run["fps"] > 0 for run in matting), matting
