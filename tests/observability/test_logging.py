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
