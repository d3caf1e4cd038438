"""Logs: JSON lines in production, each request line bound with its request id."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.support.app import running_app
from videoapi.settings import Settings


def test_production_logs_are_json_with_the_request_id(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    with running_app(make_settings(**{"server.environment": "production", "metrics.token": "scrape"})) as api:
        resp = api.get("/v1/video/tasks", headers={"X-Request-ID": "req-12345678"})
        assert resp.headers["x-request-id"] == "req-12345678"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    request = [line for line in lines if line.get("event") == "request" and line.get("route") == "/v1/video/tasks"]
    assert request and request[0]["request_id"] == "req-12345678"
    assert request[0]["status"] == 200 and "owner" in request[0]


def test_logging_follows_stderr_when_it_is_replaced_after_configuration(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    from videoapi.observability.logging import configure_logging, get_logger

    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging(make_settings(**{"log.json": True}))
    first.close()  # the stream logging was configured with is gone, as a runner's capture is
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)

    get_logger("t").info("after_swap", n=1)

    assert json.loads(second.getvalue().splitlines()[-1])["event"] == "after_swap"
