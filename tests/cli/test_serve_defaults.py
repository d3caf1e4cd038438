"""`videoapi serve` as a process: production refuses placeholder secrets in one line; the development key
is created and printed only in development on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.app import free_port

STRONG = "3f9c1be0a4d27e65b8f0c9d1a2e3f4a5"
SERVE = "from videoapi.cli import main; main()"


def serve_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOAPI_")}
    env.update({"VIDEOAPI_SERVER__VAR_DIR": str(tmp_path / "var"), "VIDEOAPI_SERVER__EMBEDDED_WORKERS": "false"})
    env["VIDEOAPI_SERVER__ENVIRONMENT"] = "development"
    env.update({"VIDEOAPI_QUEUE__BROKER": "redis", "VIDEOAPI_QUEUE__URL": "redis://127.0.0.1:6379/0"})
    env.update({f"VIDEOAPI_{k.upper()}": v for k, v in settings.items()})
    return env


def migrate(env: dict[str, str]) -> dict[str, str]:
    subprocess.run([sys.executable, "-c", SERVE, "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


def start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    cmd = [sys.executable, "-c", SERVE, "serve", "--port", str(port), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), port


def wait_healthy(proc: subprocess.Popen[str], port: int, timeout_s: float = 90) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.2)
    return False


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    if proc.poll() is None:
        proc.terminate()
    return proc.communicate(timeout=30)


def production(tmp_path: Path, **settings: str) -> dict[str, str]:
    defaults = {
        "server__environment": "production",
        "storage__signing_secret": STRONG,
        "watermark__secret": STRONG[::-1],
        "destinations__encryption_key": STRONG + "dest",
        "metrics__token": STRONG,  # production also requires /metrics to be protected
    }
    return serve_env(tmp_path, **{**defaults, **settings})


PLACEHOLDERS = [
    ("storage__signing_secret", "GENERATE_ME"),
    ("storage__signing_secret", ""),
    ("watermark__secret", "GENERATE_ME_TOO"),
    ("watermark__secret", "change-me"),
    ("auth__jwt_secret", "secret"),
    ("auth__jwt_secret", "abc123"),
    ("destinations__encryption_key", ""),
    ("destinations__encryption_key", "changeme"),
]


@pytest.mark.parametrize(("field", "value"), PLACEHOLDERS)
def test_production_serve_refuses_a_placeholder_secret_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    """The real `serve` command, in this process: it must stop before it binds or migrates anything."""
    import uvicorn
    from click.testing import CliRunner

    from videoapi.cli import main

    def serving(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve got as far as starting the server")

    monkeypatch.setattr(uvicorn, "run", serving)
    for name in [name for name in os.environ if name.startswith("VIDEOAPI_")]:
        monkeypatch.delenv(name)
    for name, setting in production(tmp_path, **{field: value}).items():
        if name.startswith("VIDEOAPI_"):
            monkeypatch.setenv(name, setting)
    result = CliRunner().invoke(main, ["serve", "--port", str(free_port())])
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("Error: refusing to start in production"), line
    assert field.replace("__", ".") in line, line
    assert not (tmp_path / "var" / "videoapi.db").exists(), "it migrated before refusing"


def test_production_refuses_a_placeholder_as_a_process_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    proc, port = start(production(tmp_path, watermark__secret="change-me"))
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    started = wait_healthy(proc, port, timeout_s=0.5)
    _, err = stop(proc)
    assert not started, "the server started"
    assert proc.returncode not in (0, None)
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert "watermark.secret" in line, line


# These two serve real requests through the Redis broker they configure.
@pytest.mark.redis
def test_production_with_real_secrets_starts_and_creates_no_key(tmp_path: Path) -> None:
    proc, port = start(migrate(production(tmp_path, auth__jwt_secret=STRONG + "jwt")), "--host", "127.0.0.1")
    try:
        assert wait_healthy(proc, port)
    finally:
        _, err = stop(proc)
    assert "development API key" not in err


@pytest.mark.redis
def test_development_key_only_on_loopback(tmp_path: Path) -> None:
    proc, port = start(migrate(serve_env(tmp_path / "lan")), "--host", "0.0.0.0")
    try:
        assert wait_healthy(proc, port)
    finally:
        _, err = stop(proc)
    assert "development API key" not in err
    proc, port = start(migrate(serve_env(tmp_path / "lo")), "--host", "127.0.0.1")
    try:
        assert wait_healthy(proc, port)
    finally:
        _, err = stop(proc)
    assert "Created a development API key" in err
