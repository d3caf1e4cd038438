"""Cost of one Prometheus scrape of the API's /metrics as the task table grows, on PostgreSQL.

The scrape reads the queues (depth, oldest age, running) and the task counts from the task table,
so its cost depends on the table's size. This fills a fresh database (created and dropped here)
with N finished tasks and a backlog of queued ones, starts `videoapi serve` on it (no embedded
workers), and times scrapes.

    .venv/bin/python scripts/bench/metrics.py                      # 100k and 1M finished tasks
    .venv/bin/python scripts/bench/metrics.py --rows 100000 --scrapes 30
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg2

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = os.environ.get("VIDEOAPI_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
KINDS = ["edit.trim", "edit.transcode", "edit.composite", "edit.subtitles", "generate.text_to_video"]
QUEUED = 5_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fill(dsn: str, rows: int) -> None:
    """`rows` finished tasks over 30 days, then QUEUED ready ones, as one INSERT ... SELECT each."""
    kinds = "ARRAY[" + ",".join(f"'{k}'" for k in KINDS) + "]"
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for count, status in ((rows, "(ARRAY['succeeded','succeeded','succeeded','failed','canceled'])[1 + mod(i, 5)]"),
                              (QUEUED, "'queued'")):  # fmt: skip
            # The SQL is built from this script's constants only.
            sql = f"""
                INSERT INTO tasks (id, kind, queue, owner_id, status, priority, params, progress, attempts,
                                   max_attempts, not_before, cancel_requested, created_at, updated_at)
                SELECT gen_random_uuid()::text, ({kinds})[1 + mod(i, {len(KINDS)})],
                       CASE WHEN mod(i, {len(KINDS)}) = {len(KINDS) - 1} THEN 'gpu' ELSE 'cpu' END,
                       'key' || (mod(i, 50)), {status}, mod(i, 3), '{{}}', 1, 1, 3,
                       now() - (mod(i, 2592000)) * interval '1 second', false,
                       now() - (mod(i, 2592000)) * interval '1 second', now()
                FROM generate_series(1, %s) AS i
                """  # noqa: S608
            cur.execute(sql, (count,))
        cur.execute("ANALYZE tasks")


def scrape_times(url: str, scrapes: int) -> list[float]:
    times = []
    with httpx.Client(timeout=60) as client:
        client.get(url).raise_for_status()  # warm: connections, plans
        for _ in range(scrapes):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


def measure(rows: int, scrapes: int) -> dict[str, float]:
    name = f"videoapi_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    params = dict(p.split("=", 1) for p in PG_ADMIN_DSN.split())
    dsn = f"host={params['host']} port={params['port']} user={params.get('user', 'postgres')} dbname={name}"
    url = f"postgresql+asyncpg://{params.get('user', 'postgres')}@{params['host']}:{params['port']}/{name}"
    port = free_port()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="videoapi-bench-") as var:
        env = {
            **os.environ,
            "VIDEOAPI_DATABASE__URL": url,
            "VIDEOAPI_SERVER__VAR_DIR": var,
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
            "VIDEOAPI_SERVER__EMBEDDED_WORKERS": "false",
            "VIDEOAPI_QUEUE__BROKER": "redis",
            "VIDEOAPI_QUEUE__URL": "redis://127.0.0.1:6379/0",
            "VIDEOAPI_QUEUE__NAMESPACE": name,
        }
        server = None
        try:
            subprocess.run([bin_dir / "videoapi", "db", "upgrade"], env=env, check=True, capture_output=True)
            started = time.perf_counter()
            fill(dsn, rows)
            fill_s = time.perf_counter() - started
            server = subprocess.Popen(
                [bin_dir / "videoapi", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            times = scrape_times(f"http://127.0.0.1:{port}/metrics", scrapes)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    times.sort()
    return {
        "rows": rows,
        "fill_s": round(fill_s, 1),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "max_ms": round(times[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="finished tasks in the table (repeatable)")
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    for rows in args.rows or [100_000, 1_000_000]:
        result = measure(rows, args.scrapes)
        print(
            f"{result['rows']:>9} finished + {QUEUED} queued tasks: scrape p50 {result['p50_ms']} ms, "
            f"p95 {result['p95_ms']} ms, max {result['max_ms']} ms (fill {result['fill_s']} s)"
        )


if __name__ == "__main__":
    main()
