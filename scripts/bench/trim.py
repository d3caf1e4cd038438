"""Benchmark accurate trims: the API end to end (smart rendering) against the bare full re-encode.

    .venv/bin/python scripts/bench/trim.py [--duration 60] [--start 10] [--end 50] [--repeat 1]
                                           [--short 5] [--segments 5] [--codecs h264,hevc]
                                           [--skip-moviepy] [--json PATH]

The API runs as a real `videoapi serve` subprocess in the embedded shape (SQLite, in-process
workers) with a throwaway var dir. The reference, bare ffmpeg, runs the full re-encode the API's
own planner builds for `mode: "reencode"` (`videoapi.editing.plan.plan_trim`): one ffmpeg command
that decodes and encodes every kept frame. The API trims with `mode: "accurate"`, which copies the
GOPs inside the ranges (smart rendering) when the input fits, so the ratio is the speed-up of smart
rendering net of the API's overhead (HTTP, database, queue, probing, indexing, storage, polling).
Three cuts, measured side by side and interleaved: one long range, one short range, and a join of
`--segments` ranges as long in total as the long one, for an H.264 input and an HEVC one (each
against its own full re-encode: a trim keeps the input's codec). See scripts/bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
import imageio_ffmpeg
import msgspec

from videoapi.editing.plan import plan_trim
from videoapi.editing.schemas import TrimRequest
from videoapi.media.probe import MediaInfo, probe
from videoapi.settings import LimitSettings

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
WIDTH, HEIGHT, FPS = 1920, 1080, 25
FRAME_S = 1 / FPS
# Speed-ups over the bare full re-encode that smart rendering is meant to reach.
TARGETS = {"long": 5.0, "join": 4.0}
# Each poll costs the server CPU that ffmpeg would otherwise use on a 2-core machine; 100 ms keeps
# that small while adding at most 0.1 s of latency.
POLL_INTERVAL_S = 0.1
SERVER_START_TIMEOUT_S = 60.0
TASK_TIMEOUT_S = 1800.0
ENV_PREFIX = "VIDEOAPI_"


# --- input -------------------------------------------------------------------------------------


# Encoder settings of the input clip per codec: both a keyframe every 2 s (50 frames). x265 writes
# open GOPs by default, which smart rendering re-encodes (their leading pictures need the GOP before):
# the HEVC clip has closed GOPs, as cameras and phones write.
INPUT_ENCODERS = {
    "h264": ("x264-veryfast-crf23-g50", ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "50"]),
    "hevc": (
        "x265-veryfast-crf28-g50-closed",
        [
            "-c:v", "libx265", "-preset", "veryfast", "-crf", "28", "-tag:v", "hvc1",
            "-x265-params", "keyint=50:min-keyint=50:open-gop=0:log-level=error",
        ],
    ),
}  # fmt: skip
CODEC_NAMES = {"h264": "H.264", "hevc": "HEVC"}


def input_clip(duration: float, codec: str = "h264") -> Path:
    """A `duration`-second 1080p25 H.264 (or HEVC)/AAC test clip, generated once and cached in the temp dir."""
    label, encoder = INPUT_ENCODERS[codec]
    name = f"videoapi-bench-testsrc2-{WIDTH}x{HEIGHT}-{FPS}fps-{duration:g}s-{label}-aac48k.mp4"
    path = Path(tempfile.gettempdir()) / name
    if path.exists() and path.stat().st_size > 0:
        print(f"input: {path} (cached)")
        return path
    print(f"input: generating {path} ...", flush=True)
    partial = path.with_suffix(f".{os.getpid()}.part.mp4")
    started = time.perf_counter()
    command = [
        FFMPEG, "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}:duration={duration:g}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration:g}",
        *encoder, "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-movflags", "+faststart", str(partial),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    partial.replace(path)
    print(f"input: generated in {time.perf_counter() - started:.1f} s")
    return path


def output_duration(path: Path) -> float:
    """Duration of the first video stream (the container's when the stream does not say), in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if container.streams.video else None
        if stream is not None and stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is None:
            raise RuntimeError(f"{path}: PyAV reports no duration")
        return container.duration / av.time_base


# --- bare ffmpeg -------------------------------------------------------------------------------


def ffmpeg_command(src: Path, media: MediaInfo, body: dict[str, Any], out_dir: Path) -> tuple[list[str], Path]:
    """The exact ffmpeg invocation the API's worker runs for this trim as a full re-encode (minus its
    progress pipe)."""
    req = msgspec.convert({"input": {"asset_id": "x"}, **body, "mode": "reencode"}, TrimRequest)
    plan = plan_trim(req, media, src, out_dir)
    assert not plan.passes, "a full re-encode is one ffmpeg command"
    return [FFMPEG, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *plan.args], plan.output


def run_ffmpeg(src: Path, media: MediaInfo, body: dict[str, Any], work: Path) -> tuple[float, Path]:
    out_dir = Path(tempfile.mkdtemp(prefix="ffmpeg-", dir=work))
    command, output = ffmpeg_command(src, media, body, out_dir)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started, output


# --- MoviePy -----------------------------------------------------------------------------------


def run_moviepy(src: Path, start: float, end: float, work: Path) -> tuple[float, Path]:
    from moviepy import VideoFileClip

    out_dir = Path(tempfile.mkdtemp(prefix="moviepy-", dir=work))
    output = out_dir / "output.mp4"
    started = time.perf_counter()
    with VideoFileClip(str(src)) as source:
        clip = source.subclipped(start, end)
        clip.write_videofile(
            str(output),
            codec="libx264",
            audio_codec="aac",
            audio_fps=48000,
            audio_bitrate="128k",
            preset="veryfast",
            ffmpeg_params=["-crf", "23"],
            threads=os.cpu_count(),
            temp_audiofile_path=str(out_dir),
            logger=None,
        )
        clip.save_frame(str(out_dir / "poster.jpg"), t=0)
    return time.perf_counter() - started, output


# --- API ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def videoapi_exe() -> str:
    beside = Path(sys.executable).parent / "videoapi"
    if beside.exists():
        return str(beside)
    found = shutil.which("videoapi")
    if not found:
        raise SystemExit("the `videoapi` console script is not installed (run `make install`)")
    return found


class Server:
    """`videoapi serve` in the embedded shape on a free port, with its own var dir and API key."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # Inherited VIDEOAPI_* settings (another database, a broker, a config file) would change the
        # shape being measured: start from a clean slate.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        self.env |= {
            "VIDEOAPI_SERVER__VAR_DIR": str(work / "var"),
            "VIDEOAPI_SERVER__PORT": str(self.port),
            "VIDEOAPI_SERVER__PUBLIC_URL": self.base_url,
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
        }
        self.log_path = work / "server.log"
        self.exe = videoapi_exe()
        self.proc: subprocess.Popen[bytes] | None = None
        self.key = ""

    def cli(self, *args: str) -> str:
        done = subprocess.run([self.exe, *args], env=self.env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"`videoapi {' '.join(args)}` failed ({done.returncode}):\n{done.stderr}{done.stdout}")
        return done.stdout

    def start(self) -> None:
        self.cli("db", "upgrade")
        self.key = self.cli("keys", "create", "--name", "bench").strip().splitlines()[-1]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [self.exe, "serve"], env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"`videoapi serve` exited with {self.proc.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"`videoapi serve` did not answer /health in {SERVER_START_TIMEOUT_S:g} s")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


class Api:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.client = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {server.key}"}, timeout=120.0
        )

    def close(self) -> None:
        self.client.close()

    def upload(self, path: Path) -> tuple[float, str]:
        started = time.perf_counter()
        with path.open("rb") as fh:
            resp = self.client.post("/v1/video/assets", files={"file": (path.name, fh, "video/mp4")})
        elapsed = time.perf_counter() - started
        self._expect(resp, 201, "upload")
        return elapsed, resp.json()["id"]

    def trim(self, asset_id: str, cut: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """Submit the trim and poll it to success: the timed section of the API measurement."""
        body = {"input": {"asset_id": asset_id}, **cut, "mode": "accurate"}
        started = time.perf_counter()
        resp = self.client.post("/v1/video/edit/trim", json=body)
        self._expect(resp, 202, "trim")
        return self.wait(resp.json()["id"], started)

    def wait(self, task_id: str, started: float, timeout_s: float = TASK_TIMEOUT_S) -> tuple[float, dict[str, Any]]:
        """Poll the task until it succeeds: (seconds since `started`, the task); a failure raises with the log."""
        while True:
            resp = self.client.get(f"/v1/video/tasks/{task_id}")
            self._expect(resp, 200, "task poll")
            task = resp.json()
            if task["status"] == "succeeded":
                return time.perf_counter() - started, task
            if task["status"] in ("failed", "canceled"):
                raise RuntimeError(
                    f"API task {task_id} {task['status']}: {json.dumps(task.get('error'))}\n"
                    f"server log tail:\n{self.server.log_tail()}"
                )
            if time.perf_counter() - started > timeout_s:
                raise RuntimeError(f"API task {task_id} still {task['status']} after {timeout_s:g} s")
            time.sleep(POLL_INTERVAL_S)

    def download(self, url: str, dest: Path) -> Path:
        with httpx.stream("GET", httpx.URL(self.server.base_url).join(url), timeout=120.0) as resp:
            if resp.status_code != 200:
                resp.read()
                self._expect(resp, 200, "result download")
            with dest.open("wb") as fh:
                for chunk in resp.iter_bytes(1 << 20):
                    fh.write(chunk)
        return dest

    def _expect(self, resp: httpx.Response, status: int, what: str) -> None:
        if resp.status_code != status:
            raise RuntimeError(
                f"{what}: expected HTTP {status}, got {resp.status_code}: {resp.text[:2000]}\n"
                f"server log tail:\n{self.server.log_tail()}"
            )


# --- driver ------------------------------------------------------------------------------------


def measure(repeat: int, methods: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run every method `repeat` times, interleaved (a, b, c, a, b, c, ...) so that a burst of load
    from elsewhere on the machine hits all of them alike rather than one."""
    runs: dict[str, list[float]] = {label: [] for label in methods}
    for i in range(repeat):
        for label, fn in methods.items():
            seconds = fn()
            runs[label].append(seconds)
            suffix = f" ({i + 1}/{repeat})" if repeat > 1 else ""
            print(f"  {label}{suffix}: {seconds:.2f} s", flush=True)
    return runs


def check_duration(label: str, path: Path, expected: float, *, strict: bool) -> float:
    got = output_duration(path)
    frame = 1.0 / FPS
    if abs(got - expected) > frame + 1e-6:
        message = f"{label}: output lasts {got:.3f} s, expected {expected:.3f} s (within one frame, {frame:.3f} s)"
        if strict:
            raise RuntimeError(message)
        print(f"  warning: {message}")
    return got


def bench_cut(
    name: str,
    cut: dict[str, Any],
    src: Path,
    media: MediaInfo,
    api: Api,
    asset_id: str,
    work: Path,
    repeat: int,
    *,
    moviepy: bool,
    codec: str = "h264",
) -> dict[str, Any]:
    """Time one cut every way, then check the last output of each lasts as long as its ranges."""
    ranges = [(s["start_s"], s["end_s"]) for s in cut.get("segments", [cut])]
    expected = sum(e - s for s, e in ranges)
    shown = " + ".join(f"[{s:g}, {e:g})" for s, e in ranges)
    print(f"cut {name} ({CODEC_NAMES[codec]}): {shown} = {expected:g} s", flush=True)
    last: dict[str, Any] = {}

    def ffmpeg_once() -> float:
        seconds, last["ffmpeg"] = run_ffmpeg(src, media, cut, work)
        return seconds

    def api_once() -> float:
        seconds, last["task"] = api.trim(asset_id, cut)
        return seconds

    def moviepy_once() -> float:
        start, end = ranges[0]
        seconds, last["moviepy"] = run_moviepy(src, start, end, work)
        return seconds

    methods = {"bare ffmpeg": ffmpeg_once, "API end to end": api_once}
    if moviepy:
        methods["MoviePy"] = moviepy_once
    runs = measure(repeat, methods)
    ffmpeg_s, api_s = statistics.median(runs["bare ffmpeg"]), statistics.median(runs["API end to end"])
    entry: dict[str, Any] = {
        "ranges": ranges,
        "output_s": expected,
        "render": last["task"]["result"].get("render"),
        "ffmpeg_s": ffmpeg_s,
        "ffmpeg_runs": runs["bare ffmpeg"],
        "api_s": api_s,
        "api_runs": runs["API end to end"],
        "api_overhead_s": api_s - ffmpeg_s,
        "api_ratio": api_s / ffmpeg_s,
        "speedup": ffmpeg_s / api_s,
        "load_avg_1m": os.getloadavg()[0],
    }
    api_out = api.download(last["task"]["result"]["url"], work / f"api-{codec}-{name}.mp4")
    entry["api_output_duration_s"] = check_duration(f"API ({name})", api_out, expected, strict=True)
    entry["ffmpeg_output_duration_s"] = check_duration(f"ffmpeg ({name})", last["ffmpeg"], expected, strict=True)
    if moviepy:
        moviepy_s = statistics.median(runs["MoviePy"])
        entry |= {"moviepy_s": moviepy_s, "moviepy_runs": runs["MoviePy"], "moviepy_ratio": moviepy_s / ffmpeg_s}
        entry["moviepy_output_duration_s"] = check_duration("MoviePy", last["moviepy"], expected, strict=False)
    return entry


def join_segments(duration: float, total: float, count: int) -> list[dict[str, float]]:
    """`count` ranges of `total` seconds in all, spread over the input, each starting and ending one
    second off the 2 s keyframe grid (so that every range has partial GOPs at both cuts)."""
    length = round(total / count / FRAME_S) * FRAME_S
    stride = duration / count
    return [{"start_s": round(i * stride + 1.0, 3), "end_s": round(i * stride + 1.0 + length, 3)} for i in range(count)]


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def remove_tree(path: Path) -> None:
    # An interrupted ffmpeg may still be writing for a moment after it was killed: try again.
    for _ in range(5):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.5)
    print(f"warning: could not remove {path}", file=sys.stderr)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="input clip length in seconds (default 60)")
    # One second off the 2 s keyframe grid: both cuts have a partial GOP to encode.
    parser.add_argument("--start", type=float, default=9.0, help="trim start in seconds (default 9)")
    parser.add_argument("--end", type=float, default=49.0, help="trim end in seconds (default 49)")
    parser.add_argument("--short", type=float, default=5.0, help="length of the second, short cut (default 5)")
    parser.add_argument(
        "--segments", type=int, default=5, help="ranges of the join, as long in total as the long cut (default 5)"
    )
    parser.add_argument(
        "--codecs", default="h264,hevc", help="input codecs, comma-separated: h264, hevc (default both)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per method; the median is reported (default 1)")
    parser.add_argument("--skip-moviepy", action="store_true", help="do not run the MoviePy comparison")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if not 0 <= args.start < args.end <= args.duration:
        parser.error("need 0 <= --start < --end <= --duration")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not 0 < args.short:
        parser.error("--short must be positive")
    if args.segments < 2:
        parser.error("--segments must be at least 2")
    args.codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    if not args.codecs or set(args.codecs) - set(INPUT_ENCODERS):
        parser.error(f"--codecs takes a comma-separated list of {', '.join(INPUT_ENCODERS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Before any work of ours: the benchmark's own encodes load every CPU.
    load_before = os.getloadavg()[0]
    start, end = args.start, args.end
    short_end = min(start + args.short, end)
    sources = {codec: input_clip(args.duration, codec) for codec in args.codecs}

    work = Path(tempfile.mkdtemp(prefix="videoapi-bench-"))
    server = Server(work)
    api: Api | None = None
    figures: dict[str, Any] = {}
    try:
        print(f"server: starting `videoapi serve` on {server.base_url} (var dir {work / 'var'})", flush=True)
        server.start()
        api = Api(server)
        cuts = {
            "long": {"start_s": start, "end_s": end},
            "short": {"start_s": start, "end_s": short_end},
            "join": {"segments": join_segments(args.duration, end - start, args.segments)},
        }
        inputs: dict[str, Any] = {}
        by_codec: dict[str, dict[str, Any]] = {}
        for codec, src in sources.items():
            upload_s, asset_id = api.upload(src)
            print(f"upload: {src.stat().st_size / 1e6:.1f} MB in {upload_s:.2f} s (not timed)", flush=True)
            inputs[codec] = {"path": str(src), "size_bytes": src.stat().st_size, "upload_s": upload_s}
            context = {
                "src": src, "media": probe(src, LimitSettings()), "api": api, "asset_id": asset_id,
                "work": work, "repeat": args.repeat, "codec": codec,
            }  # fmt: skip
            by_codec[codec] = {
                name: bench_cut(
                    name, cut, **context, moviepy=name == "long" and codec == "h264" and not args.skip_moviepy
                )
                for name, cut in cuts.items()
            }

        figures = {
            "input": {"duration_s": args.duration, **inputs},
            "repeat": args.repeat,
            "cuts": by_codec,
            "machine": {
                "cpu_model": cpu_model(),
                "cpus": os.cpu_count(),
                "load_avg_1m_after": os.getloadavg()[0],
                "platform": platform.platform(),
                "python": platform.python_version(),
                "load_avg_1m_before": load_before,
            },
            "ffmpeg": FFMPEG,
        }
    finally:
        if api is not None:
            api.close()
        server.stop()
        remove_tree(work)

    report(figures, args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


def report(figures: dict[str, Any], args: argparse.Namespace) -> None:
    machine = figures["machine"]
    median = f", median of {args.repeat}" if args.repeat > 1 else ""
    print(
        f"\nAccurate trims of a {args.duration:g} s {WIDTH}x{HEIGHT}@{FPS} clip (GOP 2 s): the API "
        f"(mode accurate) against the bare full re-encode in the input's codec{median}"
    )
    print(f"machine: {machine['cpu_model']}, {machine['cpus']} CPUs; {machine['platform']}")
    print(f"load average (1 min): {machine['load_avg_1m_before']:.2f} before, {machine['load_avg_1m_after']:.2f} after")
    header = f"{'input':<6} {'cut':<6} {'output':>7} {'ffmpeg full':>12} {'API':>8} {'speed-up':>9} {'target':>7}"
    print(f"\n{header} {'load':>5}  render")
    for codec, cuts in figures["cuts"].items():
        for name, cut in cuts.items():
            target = TARGETS.get(name)
            render = cut["render"] or {}
            how = f"{render.get('method')} (copied {render.get('copied_s')} s, encoded {render.get('encoded_s')} s)"
            if render.get("reason"):
                how += f": {render['reason']}"
            print(
                f"{CODEC_NAMES[codec]:<6} {name:<6} {cut['output_s']:>6.1f}s {cut['ffmpeg_s']:>11.2f}s "
                f"{cut['api_s']:>7.2f}s {cut['speedup']:>8.2f}x {f'{target:g}x' if target else '-':>7} "
                f"{cut['load_avg_1m']:>5.1f}  {how}"
            )
        long = cuts["long"]
        if "moviepy_s" in long:
            ratio = long["moviepy_ratio"]
            print(f"MoviePy, long cut: {long['moviepy_s']:.2f} s ({ratio:.2f}x the bare full re-encode)")
    inputs = {c: i for c, i in figures["input"].items() if c in CODEC_NAMES}
    uploads = ", ".join(f"{CODEC_NAMES[c]} {i['upload_s']:.2f} s" for c, i in inputs.items())
    print(f"upload (not timed): {uploads}")
    load = machine["load_avg_1m_before"]
    if load > 0.5 * (machine["cpus"] or 1):
        print(
            f"note: the machine was busy before the run (load {load:.1f} on {machine['cpus']} CPUs); "
            "other work competes with the encodes, so use --repeat and compare medians"
        )


if __name__ == "__main__":
    sys.exit(main())
