from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.app import free_port
from videoapi.settings import ServerSettings, Settings, StorageSettings
from videoapi.storage.local import LocalStore


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on."""
    return free_port()


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
