from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from videoapi.settings import ServerSettings, Settings, StorageSettings
from videoapi.storage.local import LocalStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on."""
    return _free_port()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """host:port of an in-process S3-compatible server (moto) speaking the real S3 protocol."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        server=ServerSettings(var_dir=str(tmp_path / "var"), public_url="http://api.test"),
        storage=StorageSettings(),
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "storage", public_url="http://api.test/", secret=b"test-secret")


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Write `data` to a file named `name` under tmp_path/src and return its path."""

    def make(name: str, data: bytes) -> Path:
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return make
