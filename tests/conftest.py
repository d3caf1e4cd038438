"""Shared fixtures: settings in a temp dir, the migrated app with embedded workers, and the real
PostgreSQL / Redis / RabbitMQ services of the machine (a missing service fails the test, never skips)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.support.app import Api, create_key, free_port, running_app, settings_in
from tests.support.services import RABBITMQ_URL, REDIS_URL, empty_pg_database, require_port
from videoapi.db.migrate import upgrade
from videoapi.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of 320x240 25 fps H.264 + AAC, moov atom at the end (so that cutting it in half breaks it)."""
    from tests.support.media import make_video

    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", duration_s=4.0, faststart=False)


@pytest.fixture(scope="session")
def slow_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of 640x480: upscaled with SLOW_TRANSCODE it keeps ffmpeg busy for several seconds."""
    from tests.support.media import make_video

    return make_video(tmp_path_factory.mktemp("media") / "slow.mp4", duration_s=12.0, width=640, height=480)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for an isolated install under tmp_path; keyword args are dotted overrides."""

    def make(**overrides: Any) -> Settings:
        return settings_in(tmp_path, **overrides)

    return make


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Run `videoapi ...` on an isolated install under tmp_path; returns its output."""
    from click.testing import CliRunner

    from videoapi.cli import main

    monkeypatch.setenv("VIDEOAPI_SERVER__VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VIDEOAPI_SERVER__ENVIRONMENT", "test")
    runner = CliRunner()

    def run(*args: str, ok: bool = True, input: str | None = None) -> str:
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    return run


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    """The embedded shape: SQLite, local store, in-process broker and worker threads."""
    with running_app(make_settings()) as api:
        yield api


@pytest.fixture(scope="module")
def module_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One embedded app for a whole module, for tests that only send requests and read answers, each as a
    caller of its own (`shared_api`): starting an app costs more than most such tests. No other app may
    start in such a module: the embedded worker's runtime is one per process."""
    with running_app(settings_in(tmp_path_factory.mktemp("app"))) as api:
        yield api


@pytest.fixture
def shared_api(module_api: Api) -> Api:
    """The module's app, as a new owner: nothing another test did is visible to this one."""
    return module_api.as_key(create_key(module_api.settings, "shared"))


# ---- real services --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated; dropped at the end."""
    with empty_pg_database("videoapi_test") as url:
        upgrade(url)
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The session's PostgreSQL database, emptied before the test."""
    dsn = pg_database.replace("postgresql+asyncpg://", "postgresql://")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        cur.execute(f"TRUNCATE {cur.fetchone()[0]}")
    conn.close()
    return pg_database


@pytest.fixture
def redis_url() -> str:
    require_port("Redis", 6379)
    return REDIS_URL


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """host:port of an in-process S3-compatible server (moto, from PyPI) speaking the real S3 protocol."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def rabbitmq_url() -> str:
    require_port("RabbitMQ", 5672)
    return RABBITMQ_URL


# ---- service and ffmpeg markers ----------------------------------------------------------------

# A test that asks for one of these fixtures needs that service: it gets the marker even if its module
# forgot it, so that `-m "not postgres ..."` (make test-fast) never selects it.
_SERVICE_FIXTURES = {
    "pg_url": "postgres",
    "pg_database": "postgres",
    "queued_api": "postgres",
    "redis_url": "redis",
    "rabbitmq_url": "rabbitmq",
}
_SERVICE_FIXTURES_ALSO = {"queued_api": "redis"}
# Fixtures that make or decode media with ffmpeg / PyAV.
_FFMPEG_FIXTURES = {
    "clip",
    "slow_clip",
    "media_dir",
    "mp4_with_audio",
    "mp4_moov_at_end",
    "webm_with_audio",
    "rotated_mp4",
    "png_image",
    "wav_audio",
    "gen_api",
    "tiny_models",
    "registry_file",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marker in (*_SERVICE_FIXTURES.items(), *_SERVICE_FIXTURES_ALSO.items()):
            if fixture in names and item.get_closest_marker(marker) is None:
                item.add_marker(marker)
        if names & _FFMPEG_FIXTURES and item.get_closest_marker("ffmpeg") is None:
            item.add_marker("ffmpeg")


@pytest.fixture(autouse=True)
def _no_ffmpeg_unless_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A test not marked `ffmpeg` that runs ffmpeg/ffprobe or opens media with PyAV fails (it would slip into
    make test-fast, which is meant to run without media tools)."""
    if request.node.get_closest_marker("ffmpeg") is not None:
        yield
        return
    import subprocess

    used: list[str] = []
    real_init = subprocess.Popen.__init__

    def guarded_init(self: subprocess.Popen, args: Any, *a: Any, **kw: Any) -> None:  # type: ignore[type-arg]
        argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
        program = os.path.basename(str(argv[0])) if argv else ""
        if "ffmpeg" in program or "ffprobe" in program:
            used.append(f"ran {program}")
        real_init(self, args, *a, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_init)
    # A worker probes the hardware encoders with ffmpeg at start (once per process): here it finds the
    # probe already made, with nothing usable, as on a node without hardware encoders.
    from videoapi.media import hardware

    monkeypatch.setattr(hardware, "_cache", {})
    try:
        import av
    except ImportError:  # pragma: no cover
        av = None
    if av is not None:
        real_open = av.open

        def guarded_open(*a: Any, **kw: Any) -> Any:
            used.append("opened media with PyAV")
            return real_open(*a, **kw)

        monkeypatch.setattr(av, "open", guarded_open)
    yield
    if used:
        pytest.fail(f"test not marked ffmpeg {sorted(set(used))}: add @pytest.mark.ffmpeg", pytrace=False)
