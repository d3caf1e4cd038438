"""The machine's real services (PostgreSQL, Redis, RabbitMQ): their URLs, and failing loudly when one is down."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest

PG_ADMIN_DSN = os.environ.get("VIDEOAPI_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
REDIS_URL = os.environ.get("VIDEOAPI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("VIDEOAPI_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def require_port(name: str, port: int) -> None:
    """Fail loudly (not skip) when a service the test needs is down: .ci/run starts them."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return
    except OSError:
        pytest.fail(f"{name} is not reachable on 127.0.0.1:{port}; start it (see .ci/run) and rerun", pytrace=False)


@contextmanager
def empty_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (its async URL), dropped when the block ends."""
    require_port("PostgreSQL", 5432)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        params = dict(p.split("=", 1) for p in PG_ADMIN_DSN.split())
        yield f"postgresql+asyncpg://{params.get('user', 'postgres')}@{params['host']}:{params['port']}/{name}"
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()
