"""Settings: defaults file, then VIDEOAPI_CONFIG, then VIDEOAPI_* variables; bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from videoapi.settings import SettingsError, load_settings


def test_defaults_are_the_embedded_shape() -> None:
    s = load_settings(environ={})
    assert s.queue.broker == "stub" and s.server.embedded_workers
    assert s.storage.backend == "local"
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.time_limit_for("edit.trim") == 900.0
    assert s.time_limit_for("something.else") == s.tasks.default_time_limit_s


def test_config_file_then_environment_override(tmp_path: Path) -> None:
    extra = tmp_path / "prod.toml"
    extra.write_text('[queue]\nbroker = "redis"\nurl = "redis://r:6379/0"\n[tasks]\nlease_s = 60\n')
    s = load_settings(environ={"VIDEOAPI_CONFIG": str(extra), "VIDEOAPI_TASKS__LEASE_S": "90",
                               "VIDEOAPI_SERVER__EMBEDDED_WORKERS": "false",
                               "VIDEOAPI_TASKS__TIME_LIMIT_S": '{"edit.trim" = 5}',
                               "VIDEOAPI_LIMITS__FETCH_ALLOW_CIDRS": '["10.0.0.0/8"]'})  # fmt: skip
    assert s.queue.broker == "redis" and s.queue.url == "redis://r:6379/0"
    assert s.tasks.lease_s == 90.0
    assert s.server.embedded_workers is False
    assert s.tasks.time_limit_s["edit.trim"] == 5  # merged into the defaults, not replacing them
    assert s.tasks.time_limit_s["edit.transcode"] == 3600.0
    assert s.limits.fetch_allow_cidrs == ["10.0.0.0/8"]


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"VIDEOAPI_TASKS__LEASE_S": "soon"}, "tasks.lease_s"),
        ({"VIDEOAPI_QUEUE__BROKER": "kafka"}, "queue.broker"),
        ({"VIDEOAPI_QUEUE__BROKER": "redis", "VIDEOAPI_SERVER__EMBEDDED_WORKERS": "false"}, "queue.url is required"),
        ({"VIDEOAPI_SERVER__EMBEDDED_WORKERS": "false"}, "only works with server.embedded_workers"),
        ({"VIDEOAPI_TASKS__HEARTBEAT_S": "20"}, "heartbeat_s"),
        ({"VIDEOAPI_STORAGE__BACKEND": "s3"}, "s3_access_key"),
        ({"VIDEOAPI_SERVER__COLOUR": "blue"}, "colour"),
        ({"VIDEOAPI_SERVER__WORKER_IDLE_POLL_MS": "0"}, "server.worker_idle_poll_ms"),
        ({"VIDEOAPI_CONFIG": "/nonexistent.toml"}, "does not exist"),
    ],
)
def test_invalid_settings_name_the_field(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(environ=environ)
    assert fragment in str(err.value)


def test_the_api_clients_url_and_key_variables_are_not_settings() -> None:
    # `videoapi mcp` and the SDK read these; a shell that also starts `videoapi serve` must not fail on them.
    client = {"VIDEOAPI_URL": "http://127.0.0.1:8000", "VIDEOAPI_API_KEY": "vk_a", "VIDEOAPI_KEY": "vk_b"}
    assert load_settings(environ=client) == load_settings(environ={})
