"""API throughput: task creations/s and status reads/s, with p50/p99 latency, on PostgreSQL + Redis.

Starts `uvicorn videoapi.app:create_app --factory --workers N` against a fresh PostgreSQL database
(created and dropped here) with the Redis broker and the Redis rate limiter, no embedded workers
(the created tasks stay queued: this measures the API, not ffmpeg). The load comes from a small
keep-alive HTTP/1.1 client on raw asyncio streams in a separate process, light enough to leave
most of the CPU to the server on a small machine.

    .venv/bin/python scripts/bench/api.py                      # defaults: 2 server workers, 64 connections
    .venv/bin/python scripts/bench/api.py --workers 2 --connections 64 --seconds 10 --json out.json

Targets (issue 5): >= 500 creations/s, >= 2000 reads/s, p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = os.environ.get("VIDEOAPI_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
REDIS_URL = os.environ.get("VIDEOAPI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CREATE_BODY = json.dumps({"input": {"url": "https://media.example.com/clip.mp4"}, "start_s": 1, "end_s": 3}).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- a minimal keep-alive HTTP/1.1 client --------------------------------------------------


async def request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


def build(method: str, path: str, key: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def phase(
    port: int, key: str, connections: int, seconds: float, make: Any
) -> tuple[list[float], dict[int, int], list[bytes]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    bodies: list[bytes] = []
    deadline = time.perf_counter() + seconds

    async def conn() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                raw = make()
                started = time.perf_counter()
                status, body = await request(reader, writer, raw)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 202 and len(bodies) < 5000:
                    bodies.append(body)
        finally:
            writer.close()

    await asyncio.gather(*(conn() for _ in range(connections)))
    return latencies, statuses, bodies


def summarize(name: str, latencies: list[float], statuses: dict[int, int], seconds: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "phase": name,
        "requests": len(ordered),
        "per_s": round(len(ordered) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
        "statuses": statuses,
    }


def load(port: int, key: str, connections: int, seconds: float, out: Any) -> None:
    """The client process: warm up, then creations, then reads of the created tasks."""

    async def main() -> list[dict[str, Any]]:
        create = build("POST", "/v1/video/edit/trim", key, CREATE_BODY)
        await phase(port, key, connections, 1.0, lambda: create)  # warm-up: connections, pools, caches
        lat, st, bodies = await phase(port, key, connections, seconds, lambda: create)
        results = [summarize("create", lat, st, seconds)]
        ids = [json.loads(b)["id"] for b in bodies]
        reads = [build("GET", f"/v1/video/tasks/{i}", key) for i in ids]
        lat, st, _ = await phase(port, key, connections, seconds, lambda: random.choice(reads))
        results.append(summarize("read", lat, st, seconds))
        return results

    out.put(asyncio.run(main()))


# ---- the server ------------------------------------------------------------------------------


def create_database() -> tuple[str, str]:
    import psycopg2

    name = f"videoapi_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    params = dict(p.split("=", 1) for p in PG_ADMIN_DSN.split())
    return name, f"postgresql+asyncpg://{params.get('user', 'postgres')}@{params['host']}:{params['port']}/{name}"


def drop_database(name: str) -> None:
    import psycopg2

    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--pool-size", type=int, default=10, help="database.pool_size per worker")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    db_name, db_url = create_database()
    var = Path(tempfile.mkdtemp(prefix="videoapi-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOAPI_")}
    env.update(
        {
            "VIDEOAPI_SERVER__VAR_DIR": str(var),
            "VIDEOAPI_SERVER__ENVIRONMENT": "production",
            "VIDEOAPI_LOG__LEVEL": "warning",
            "VIDEOAPI_DATABASE__URL": db_url,
            "VIDEOAPI_DATABASE__POOL_SIZE": str(args.pool_size),
            "VIDEOAPI_QUEUE__BROKER": "redis",
            "VIDEOAPI_QUEUE__URL": REDIS_URL,
            "VIDEOAPI_QUEUE__NAMESPACE": f"bench{uuid.uuid4().hex[:6]}",
            "VIDEOAPI_SERVER__EMBEDDED_WORKERS": "false",
            "VIDEOAPI_GATEWAY__RATE_LIMIT_BACKEND": "redis",
        }
    )
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "videoapi"), "db", "upgrade"], env=env, check=True, capture_output=True)
    key = (
        subprocess.run(
            [str(bin_dir / "videoapi"), "keys", "create", "--name", "bench", "--rate", "100000", "--burst", "100000"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    server = subprocess.Popen(
        [
            str(bin_dir / "uvicorn"), "videoapi.app:create_app", "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(args.workers), "--no-access-log", "--no-proxy-headers",
            "--log-level", "warning",
        ],
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        time.sleep(1.0)  # let every worker finish its startup
        out: mp.Queue[Any] = mp.Queue()
        client = mp.Process(target=load, args=(port, key, args.connections, args.seconds, out))
        client.start()
        results = out.get(timeout=args.seconds * 4 + 60)
        client.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
        drop_database(db_name)
        shutil.rmtree(var, ignore_errors=True)
    report = {
        "machine": f"{os.cpu_count()} CPUs",
        "server_workers": args.workers,
        "connections": args.connections,
        "results": results,
    }
    for r in results:
        print(
            f"{r['phase']:>7}: {r['per_s']:8.1f}/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
            f"({r['requests']} requests, statuses {r['statuses']})"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
