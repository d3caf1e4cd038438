"""The Python SDK against the real app on a socket: one server for the session, keys made for it.

The SDK is imported from sdk/python/src (no install needed): `make test` runs on a fresh checkout.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SDK_SRC = Path(__file__).resolve().parents[2] / "sdk" / "python" / "src"
if str(SDK_SRC) not in sys.path:
    sys.path.insert(0, str(SDK_SRC))

from tests.support.app import create_key, free_port, settings_in  # noqa: E402
from tests.support.gateway import Receiver, serve  # noqa: E402
from videoapi.settings import Settings  # noqa: E402


@dataclass
class Server:
    url: str
    key: str
    settings: Settings
    receiver: Receiver


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The embedded app (SQLite, local store, in-process workers) on 127.0.0.1, with a webhook receiver."""
    port = free_port()
    settings = settings_in(
        tmp_path_factory.mktemp("sdk"),
        **{
            "server.public_url": f"http://127.0.0.1:{port}",
            "gateway.webhook_allow_cidrs": ["127.0.0.0/8"],
            "gateway.webhook_allow_ports": [],
            "gateway.webhook_poll_interval_s": 0.2,
        },
    )
    receiver = Receiver()
    try:
        with serve(settings, port) as url:
            yield Server(url, create_key(settings, "sdk"), settings, receiver)
    finally:
        receiver.close()
