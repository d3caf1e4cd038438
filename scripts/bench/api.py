"""API throughput: task creations/s and status reads/s, with p50/p99 latency, on PostgreSQL + Redis,
beside a bare Litestar JSON route measured by the same client in the same run.

For each scenario (backlog x read cache) it creates a fresh PostgreSQL database (dropped at the end),
seeds `--backlog` queued tasks of the bench key in one INSERT ... SELECT (counters included, as the
migration would), and starts `uvicorn videoapi.app:create_app --factory --workers N` with the Redis
broker, the Redis rate limiter, load shedding on (`gateway.max_queue_depth`, never reached) and a key
whose active-task cap is checked but never reached; no embedded workers (tasks stay queued: this
measures the API, not ffmpeg). The load comes from a small keep-alive HTTP/1.1 client on raw asyncio
streams in a separate process: a warm-up second, `--seconds` of `POST /v1/video/edit/trim`, then
`--seconds` of `GET /v1/video/tasks/{id}` over the created tasks.

The ceiling is `bare_app` below: one uvicorn with the same workers serving a JSON POST (parse a body,
answer 202 with a task-sized object) and a JSON GET, measured before and after the scenarios. The
ratio ours/ceiling is what to compare across machines and runs: the machine is shared, so absolute
rates move with its load, which the script prints (see scripts/bench/README.md).

    .venv/bin/python scripts/bench/api.py                               # 2 workers, 16 connections, 0 and 100k
    .venv/bin/python scripts/bench/api.py --backlog 0 --read-cache on --seconds 5 --json out.json

Targets: >= 1,000 creations/s and >= 3,000 reads/s with p99 < 50 ms on 2 idle cores;
with 100,000 queued tasks both within 10 % of the empty table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
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

import msgspec
from litestar import Litestar, Request, get, post

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = os.environ.get("VIDEOAPI_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
REDIS_URL = os.environ.get("VIDEOAPI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
UNREACHED = 100_000_000
"""Load-shedding depth and active-task cap of the bench: checked on every create, never reached."""
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
    ports: list[int], key: str, connections: int, seconds: float, make: Any
) -> tuple[list[float], dict[int, int], list[bytes]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    bodies: list[bytes] = []
    deadline = time.perf_counter() + seconds

    async def conn(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[i % len(ports)])
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

    await asyncio.gather(*(conn(i) for i in range(connections)))
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


def load(ports: list[int], key: str, connections: int, seconds: float, out: Any, marks: Any) -> None:
    """The client process: warm up, then creations, then reads of the created tasks.

    `marks` gets ("start" | "end", phase) around each timed phase, for the server's CPU time.
    """

    async def main() -> list[dict[str, Any]]:
        create = build("POST", "/v1/video/edit/trim", key, CREATE_BODY)
        await phase(ports, key, connections, 1.0, lambda: create)  # warm-up: connections, pools, caches
        marks.put(("start", "create"))
        lat, st, bodies = await phase(ports, key, connections, seconds, lambda: create)
        marks.put(("end", "create"))
        results = [summarize("create", lat, st, seconds)]
        ids = [json.loads(b)["id"] for b in bodies] or ["none"]
        reads = [build("GET", f"/v1/video/tasks/{i}", key) for i in ids]
        await phase(ports, key, connections, 1.0, lambda: random.choice(reads))  # warm-up (cache fills)
        marks.put(("start", "read"))
        lat, st, _ = await phase(ports, key, connections, seconds, lambda: random.choice(reads))
        marks.put(("end", "read"))
        results.append(summarize("read", lat, st, seconds))
        return results

    out.put(asyncio.run(main()))


# ---- the ceiling: a bare Litestar app, same server, same client ------------------------------


class BareTask(msgspec.Struct):
    """About the size of a task object."""

    id: str
    kind: str
    status: str
    progress: float
    priority: str
    attempts: int
    created_at: str
    params: dict[str, Any]
    result: dict[str, Any] | None = None
    cancel_requested: bool = False


@post("/v1/video/edit/trim", status_code=202)
async def bare_create(request: Request[Any, Any, Any]) -> BareTask:
    body = msgspec.json.decode(await request.body())
    return BareTask(str(uuid.uuid4()), "edit.trim", "queued", 0.0, "normal", 0, "2026-12-04T00:00:00Z", body)


@get("/v1/video/tasks/{task_id:str}")
async def bare_read(task_id: str) -> BareTask:
    return BareTask(task_id, "edit.trim", "queued", 0.0, "normal", 0, "2026-12-04T00:00:00Z", {"start_s": 1})


def bare_app() -> Litestar:
    """`uvicorn api:bare_app --factory`: what Litestar + uvicorn serve with no work behind the routes."""
    return Litestar([bare_create, bare_read], openapi_config=None)


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


def seed_backlog(db_url: str, rows: int) -> float:
    """`rows` queued cpu tasks of the bench key, in one statement; returns the seconds it took."""
    import psycopg2

    started = time.perf_counter()
    conn = psycopg2.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM api_keys WHERE name = 'bench'")
        owner = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO tasks (id, kind, queue, owner_id, status, priority, params, progress, attempts,"
            " max_attempts, not_before, published_at, cancel_requested, created_at, updated_at, changed_at, version)"
            " SELECT gen_random_uuid()::text, 'edit.trim', 'cpu', %s, 'queued', 1, %s::jsonb, 0, 0, 3,"
            " now(), now(), false, now() - i * interval '1 ms', now(), now(), 1 FROM generate_series(1, %s) i",
            (owner, CREATE_BODY.decode(), rows),
        )
        for scope in ("queue:cpu", f"owner:{owner}"):
            cur.execute("INSERT INTO task_counters (scope, shard, count) VALUES (%s, 0, %s)", (scope, rows))
        cur.execute("VACUUM ANALYZE tasks")
    conn.close()
    return time.perf_counter() - started


Servers = list[subprocess.Popen[bytes]]


def serve(app: list[str], env: dict[str, str], args: argparse.Namespace, cwd: Path) -> tuple[Servers, list[int]]:
    """`--listen split`: one uvicorn per worker, each on its own port (the client spreads its connections
    over them, as a load balancer would); `shared`: `uvicorn --workers N` on one socket, where the
    kernel may hand every connection to one worker (it did in two of three runs where the workers'
    CPU was read: one at a full core, the other idle), so the rates jumped by up to 2x between runs."""
    split = args.listen == "split"
    ports = [free_port() for _ in range(args.workers if split else 1)]
    command = [
        str(Path(sys.executable).parent / "uvicorn"), *app, "--factory", "--host", "127.0.0.1", "--workers",
        str(1 if split else args.workers), "--no-access-log", "--no-proxy-headers", "--log-level", "warning",
    ]  # fmt: skip
    servers = [subprocess.Popen([*command, "--port", str(port)], env=env, cwd=cwd) for port in ports]
    deadline = time.monotonic() + 60
    for port in ports:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or any(s.poll() is not None for s in servers):
                    stop(servers, kill=True)
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
    time.sleep(1.0)  # let every worker finish its startup
    return servers, ports


def stop(servers: Servers, kill: bool = False) -> None:
    for server in servers:
        server.kill() if kill else server.terminate()
    for server in servers:
        server.wait(timeout=30)


def server_cpu_s(servers: Servers) -> float:
    """User + system CPU seconds of the servers and their worker processes so far."""
    import psutil

    total = 0.0
    for server in servers:
        root = psutil.Process(server.pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


def drive(servers: Servers, ports: list[int], key: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the client; each phase's result gains `server_cpu_ms`: the server's CPU time per request,
    which moves less with the machine's load than the rates do."""
    out: mp.Queue[Any] = mp.Queue()
    marks: mp.Queue[Any] = mp.Queue()
    client = mp.Process(target=load, args=(ports, key, args.connections, args.seconds, out, marks))
    client.start()
    cpu: dict[str, float] = {}
    for _ in range(4):
        edge, name = marks.get(timeout=args.seconds * 4 + 60)
        cpu[name] = server_cpu_s(servers) - cpu.get(name, 0.0) if edge == "end" else server_cpu_s(servers)
    results = out.get(timeout=args.seconds * 4 + 60)
    client.join()
    for r in results:
        r["server_cpu_ms"] = round(cpu[r["phase"]] * 1000 / max(r["requests"], 1), 3)
    return results


def measure_bare(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOAPI_")}
    servers, ports = serve(["api:bare_app", "--app-dir", str(Path(__file__).parent)], env, args, ROOT)
    try:
        return {r["phase"]: r for r in drive(servers, ports, "bare", args)}
    finally:
        stop(servers)


def measure_api(args: argparse.Namespace, backlog: int, read_cache: bool) -> dict[str, Any]:
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
            "VIDEOAPI_METRICS__TOKEN": "bench",  # production requires it (or metrics.listen)
            # Both per-create checks run (shedding, the active-task cap) and neither refuses.
            "VIDEOAPI_GATEWAY__MAX_QUEUE_DEPTH": str(UNREACHED),
            "VIDEOAPI_TASKS__READ_CACHE": "true" if read_cache else "false",
        }
    )
    if args.uncapped:
        env["VIDEOAPI_GATEWAY__DEFAULT_MAX_ACTIVE_TASKS"] = "0"
    cap = [] if args.uncapped else ["--max-tasks", str(UNREACHED)]
    bin_dir = Path(sys.executable).parent
    try:
        upgraded = subprocess.run([str(bin_dir / "videoapi"), "db", "upgrade"], env=env, capture_output=True, text=True)
        if upgraded.returncode:
            raise SystemExit(f"videoapi db upgrade failed: {upgraded.stderr.strip()[-500:]}")
        key = (
            subprocess.run(
                [
                    str(bin_dir / "videoapi"), "keys", "create", "--name", "bench", "--rate", "100000",
                    "--burst", "100000", *cap,
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )  # fmt: skip
        seeded_s = seed_backlog(db_url, backlog) if backlog else 0.0
        servers, ports = serve(["videoapi.app:create_app"], env, args, ROOT)
        try:
            results = {r["phase"]: r for r in drive(servers, ports, key, args)}
        finally:
            stop(servers)
    finally:
        drop_database(db_name)
        shutil.rmtree(var, ignore_errors=True)
    return {"backlog": backlog, "read_cache": read_cache, "seed_s": round(seeded_s, 1), **results}


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cpus": os.cpu_count(), "platform": platform.platform()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (ours and the ceiling's)")
    parser.add_argument(
        "--listen",
        choices=("split", "shared"),
        default="split",
        help="split: one uvicorn per worker, connections spread over their ports; shared: uvicorn --workers N",
    )
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--pool-size", type=int, default=10, help="database.pool_size per worker")
    parser.add_argument(
        "--backlog", default="0,100000", help="queued tasks seeded before a scenario, comma-separated (0,100000)"
    )
    parser.add_argument("--read-cache", default="off,on", help="tasks.read_cache per scenario: off, on or off,on")
    parser.add_argument(
        "--uncapped",
        action="store_true",
        help="a key without an active-task cap (gateway.default_max_active_tasks = 0): no per-owner lock",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    backlogs = [int(b) for b in args.backlog.split(",")]
    caches = [c.strip() == "on" for c in args.read_cache.split(",")]

    report: dict[str, Any] = {
        "machine": machine(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "server_workers": args.workers,
        "listen": args.listen,
        "connections": args.connections,
        "seconds": args.seconds,
        "uncapped": args.uncapped,
    }
    print(f"machine: {report['machine']['cpu']}, {report['machine']['cpus']} CPUs; {report['machine']['platform']}")
    print(f"load average before: {report['load_before']}")
    print(
        f"uvicorn {args.workers} workers ({args.listen} listen), {args.connections} connections, "
        f"{args.seconds:g} s phases, "
        f"key {'without an active-task cap' if args.uncapped else 'with an active-task cap (checked, not reached)'}"
    )
    bare = [measure_bare(args)]
    scenarios = [measure_api(args, b, c) for b in backlogs for c in caches]
    bare.append(measure_bare(args))
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    ceiling = {p: statistics.mean(b[p]["per_s"] for b in bare) for p in ("create", "read")}
    report.update(bare=bare, ceiling_per_s=ceiling, scenarios=scenarios)

    def line(name: str, r: dict[str, Any], phase: str) -> str:
        other = {k: v for k, v in r[phase]["statuses"].items() if k not in (200, 202)}
        ratio = r[phase]["per_s"] / ceiling[phase] if ceiling[phase] else 0.0
        return (
            f"{name:<28} {phase:>6} {r[phase]['per_s']:8.1f}/s  p50 {r[phase]['p50_ms']:6.2f} ms  "
            f"p99 {r[phase]['p99_ms']:6.2f} ms  {ratio:6.1%} of bare  CPU {r[phase]['server_cpu_ms']:5.2f} ms/req"
            + (f"  other statuses {other}" if other else "")
        )

    for i, b in enumerate(bare):
        for phase in ("create", "read"):
            print(line(f"bare Litestar ({'before' if i == 0 else 'after'})", b, phase))
    for sc in scenarios:
        name = f"backlog {sc['backlog']:,}, cache {'on' if sc['read_cache'] else 'off'}"
        for phase in ("create", "read"):
            print(line(name, sc, phase))
    print(f"load average after: {report['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
