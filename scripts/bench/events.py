"""Idle event streams: the CPU one API process spends holding N open `GET /v1/video/events` streams.

Starts `videoapi serve` (embedded shape: SQLite, in-process workers; `--backend redis` adds the Redis
broker, so that events travel over Redis pub/sub), creates `--keys` API keys, and measures the
server process's CPU time (user + system, psutil) over `--seconds` twice, side by side in one run:

1. idle, no stream open;
2. idle, with `--streams` streams open (spread over the keys), nothing happening but the
   heartbeat comments (every `events.heartbeat_s`, 15 s by default) and, on the table backend,
   the one poller of the process.

The client holds the streams on raw asyncio sockets in this process and counts the heartbeats it
reads, to show that every stream stayed alive. Target: 1,000 idle streams raise the
process's CPU by less than 10 % of one core.

    .venv/bin/python scripts/bench/events.py                       # 1000 streams, 30 s, table backend
    .venv/bin/python scripts/bench/events.py --backend redis --streams 1000 --seconds 30 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

REDIS_URL = os.environ.get("VIDEOAPI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version()}


class Streams:
    """N open SSE connections; counts the heartbeat comments and events read on them."""

    def __init__(self) -> None:
        self.heartbeats = 0
        self.events = 0
        self.open = 0
        self.failed: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, port: int, keys: list[str], count: int) -> None:
        ready = asyncio.Semaphore(0)
        for i in range(count):
            self._tasks.append(asyncio.create_task(self._one(port, keys[i % len(keys)], ready)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # do not flood the accept queue
        for _ in range(count):
            await asyncio.wait_for(ready.acquire(), timeout=120)

    async def _one(self, port: int, key: str, ready: asyncio.Semaphore) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"GET /v1/video/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
                "Accept: text/event-stream\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if head[9:12] != b"200":
                self.failed.append(head.decode(errors="replace")[:200])
                ready.release()
                return
            self.open += 1
            ready.release()
            while line := await reader.readline():
                if line.startswith(b": heartbeat"):
                    self.heartbeats += 1
                elif line.startswith(b"event:"):
                    self.events += 1
            self.open -= 1
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.failed.append(f"{type(exc).__name__}: {exc}")
            ready.release()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


async def measure(proc: psutil.Process, seconds: float) -> float:
    """Per cent of one core the process used over `seconds`."""
    before, started = cpu_seconds(proc), time.monotonic()
    await asyncio.sleep(seconds)
    return 100.0 * (cpu_seconds(proc) - before) / (time.monotonic() - started)


def start_server(args: argparse.Namespace, var: Path) -> tuple[subprocess.Popen[bytes], int, list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOAPI_")}
    env.update(
        {
            "VIDEOAPI_SERVER__VAR_DIR": str(var),
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
            "VIDEOAPI_LOG__LEVEL": "warning",
            "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "100000",
            "VIDEOAPI_GATEWAY__DEFAULT_BURST": "100000",
            "VIDEOAPI_EVENTS__BACKEND": args.backend,
        }
    )
    if args.backend == "redis":
        env.update(
            {
                "VIDEOAPI_QUEUE__BROKER": "redis",
                "VIDEOAPI_QUEUE__URL": REDIS_URL,
                "VIDEOAPI_QUEUE__NAMESPACE": f"bench{uuid.uuid4().hex[:6]}",
            }
        )
    videoapi = str(Path(sys.executable).parent / "videoapi")
    subprocess.run([videoapi, "db", "upgrade"], env=env, check=True, capture_output=True)
    keys = [
        subprocess.run(
            [videoapi, "keys", "create", "--name", f"bench{i}"], env=env, check=True, capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
        for i in range(args.keys)
    ]
    port = free_port()
    log = (var / "server.log").open("wb")
    server = subprocess.Popen([videoapi, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, port, keys, env
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the server did not start:\n{(var / 'server.log').read_text()[-2000:]}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    var = Path(tempfile.mkdtemp(prefix="videoapi-bench-events-"))
    server, port, keys, _ = start_server(args, var)
    proc = psutil.Process(server.pid)
    streams = Streams()
    try:
        await asyncio.sleep(args.settle)
        load_before = os.getloadavg()
        idle = await measure(proc, args.seconds)
        opened = time.monotonic()
        await streams.start(port, keys, args.streams)
        open_s = time.monotonic() - opened
        await asyncio.sleep(args.settle)
        beats_before = streams.heartbeats
        with_streams = await measure(proc, args.seconds)
        beats = streams.heartbeats - beats_before
        rss_mb = proc.memory_info().rss / 2**20
        load_after = os.getloadavg()
    finally:
        await streams.stop()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(var, ignore_errors=True)
    return {
        "machine": machine(),
        "backend": args.backend,
        "streams": args.streams,
        "open_streams": streams.open,
        "failed": streams.failed[:5],
        "keys": args.keys,
        "seconds": args.seconds,
        "open_s": round(open_s, 2),
        "cpu_idle_pct": round(idle, 2),
        "cpu_with_streams_pct": round(with_streams, 2),
        "cpu_delta_pct_of_one_core": round(with_streams - idle, 2),
        "heartbeats_read": beats,
        "server_rss_mb": round(rss_mb, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000, help="streams held open")
    parser.add_argument("--keys", type=int, default=20, help="API keys (owners) the streams are spread over")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each measurement")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait before each measurement")
    parser.add_argument("--backend", choices=("table", "redis"), default="table", help="events.backend")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.streams + 100:
        raise SystemExit(f"open files limit {soft} is below {args.streams + 100}: raise it (ulimit -n)")
    result = asyncio.run(run(args))
    m, r = result["machine"], result
    print(f"machine: {m['cpu']}, {m['cores']} cores; load average before {r['load_before']}, after {r['load_after']}")
    print(f"backend: {r['backend']}; {r['streams']} streams over {r['keys']} keys, opened in {r['open_s']} s")
    print(f"{'server CPU (% of one core)':32} {'idle':>8} {'streams':>8} {'delta':>8}")
    print(
        f"{'over ' + str(result['seconds']) + ' s':32} {result['cpu_idle_pct']:8.2f} "
        f"{result['cpu_with_streams_pct']:8.2f} {result['cpu_delta_pct_of_one_core']:8.2f}"
    )
    print(
        f"streams open at the end: {result['open_streams']}; heartbeats read while measuring: "
        f"{result['heartbeats_read']}; server RSS {result['server_rss_mb']} MB; target: delta < 10"
    )
    if result["failed"]:
        print(f"failed streams (first 5): {result['failed']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["open_streams"] == args.streams else 1


if __name__ == "__main__":
    sys.exit(main())
