"""The image, checked without a Docker engine: the Dockerfile's structure, and its entrypoint run on
this machine in the image's layout (config/, migrations/ and alembic.ini under VIDEOAPI_HOME, the
package imported from elsewhere), against PostgreSQL; plus the migration lock replicas rely on."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.support.app import free_port
from tests.support.deploy_checks import (
    DOCKERFILE,
    ENTRYPOINT,
    ROOT,
    Stage,
    dockerfile_env,
    dockerfile_stages,
    exec_form,
    parse_videoapi_args,
    settings_from_env,
)
from tests.support.services import empty_pg_database
from videoapi.db.migrate import MIGRATION_LOCK_KEY

VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.postgres


def final_stage() -> Stage:
    return dockerfile_stages()[-1]


def head_revision(migrations: Path) -> str:
    """The newest revision id in a migrations/versions directory (files are numbered in order)."""
    newest = sorted((migrations / "versions").glob("[0-9]*.py"))[-1]
    match = re.search(r"^revision(?:: str)? = [\"']([^\"']+)[\"']", newest.read_text(), re.MULTILINE)
    assert match, f"{newest} names no revision"
    return match.group(1)


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's exec-form command line, after its --interval/--timeout/... options."""
    healthcheck = final_stage().last("HEALTHCHECK")
    assert healthcheck is not None and " CMD " in healthcheck, healthcheck
    return exec_form(healthcheck.split(" CMD ", 1)[1])


# ---- the Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_builds_in_a_builder_stage_and_runs_from_a_slim_python_stage() -> None:
    stages = dockerfile_stages()
    assert [s.name for s in stages] == ["builder", "runtime"]
    args = dict(line.split("=", 1) for line in DOCKERFILE.read_text().splitlines() if line.startswith("ARG PYTHON"))
    assert args["ARG PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert all(s.base == "${PYTHON_IMAGE}" for s in stages)
    builder, runtime = stages
    run = " ".join(builder.all("RUN"))
    # torch from PyTorch's index for the variant, then the project itself, not editable.
    assert "cpu)" in run and "cuda)" in run and '--index-url "$index"' in run
    assert "pip install ." in run and "-e" not in run.split()
    assert runtime.all("COPY")[0].startswith("scripts/install-system-deps.sh")
    assert "--from=builder /opt/venv /opt/venv" in runtime.all("COPY")
    assert "tini" in " ".join(runtime.all("RUN"))


def test_final_stage_runs_as_a_non_root_user() -> None:
    user = final_stage().last("USER")
    assert user is not None
    uid = user.split(":")[0]
    assert uid not in ("root", "0") and uid == "10001"


def test_final_stage_has_healthcheck_entrypoint_cmd_and_ports() -> None:
    stage = final_stage()
    check = healthcheck_command()
    assert check[0] == "python" and "/health" in check[-1] and "urllib" in check[-1]
    assert exec_form(stage.last("ENTRYPOINT") or "") == ["tini", "--", "entrypoint.sh"]
    assert exec_form(stage.last("CMD") or "") == ["serve"]
    assert stage.last("EXPOSE") == "8000 9100"
    parse_videoapi_args(exec_form(stage.last("CMD") or ""))


def test_image_environment_points_at_the_install_and_loads_as_settings() -> None:
    env = dockerfile_env(final_stage())
    assert env["VIDEOAPI_HOME"] == "/app"
    assert env["VIDEOAPI_SERVER__HOST"] == "0.0.0.0"
    # The image is for deployments: production, so placeholder secrets stop it and no key is made.
    assert env["VIDEOAPI_SERVER__ENVIRONMENT"] == "production"
    assert env["HF_HOME"].startswith(env["VIDEOAPI_SERVER__VAR_DIR"] + "/")
    assert env["PATH"].startswith("/opt/venv/bin:")
    settings = settings_from_env(env)
    assert settings.server.var_dir == "/var/lib/videoapi"
    # The runtime files land where VIDEOAPI_HOME says.
    copies = final_stage().all("COPY")
    assert final_stage().last("WORKDIR") == "/app"
    assert {"config ./config", "migrations ./migrations", "alembic.ini ./"} <= set(copies)


def _dockerignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").removeprefix("**/")
        parts = Path(path).parts
        if any(fnmatch.fnmatch("/".join(parts[: i + 1]), pattern) for i in range(len(parts))) or any(
            fnmatch.fnmatch(part, pattern) for part in parts
        ):
            ignored = not negate
    return ignored


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for stage in dockerfile_stages():
        for arg in stage.all("COPY"):
            words = [w for w in arg.split() if not w.startswith("--")]
            if any(w.startswith("--from=") for w in arg.split()):
                continue
            sources += words[:-1]
    assert sources, "the Dockerfile copies nothing from the context"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not _dockerignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    # Local state never reaches the build context.
    for private in (".venv", "var", ".git", ".env", "tests"):
        assert _dockerignored(private, patterns), private


# ---- the entrypoint in the image's layout -------------------------------------------------------


@pytest.fixture
def image_home(tmp_path: Path) -> Path:
    """What the runtime stage puts under /app: config/, migrations/ and alembic.ini."""
    home = tmp_path / "app"
    home.mkdir()
    for stage_copy in ("config", "migrations"):
        subprocess.run(["cp", "-r", str(ROOT / stage_copy), str(home / stage_copy)], check=True)
    subprocess.run(["cp", str(ROOT / "alembic.ini"), str(home)], check=True)
    return home


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty PostgreSQL database (not migrated), dropped afterwards."""
    with empty_pg_database("videoapi_image") as url:
        yield url


def sync_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def alembic_revision(url: str) -> str | None:
    with psycopg2.connect(sync_dsn(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
        row = cur.fetchone()
        if not (row and row[0]):
            return None
        cur.execute("SELECT version_num FROM alembic_version")
        row = cur.fetchone()
        return row[0] if row else None


def image_env(home: Path, var: Path, **extra: str) -> dict[str, str]:
    """A container-like environment: no VIDEOAPI_* from this shell, `videoapi` and `python` on PATH."""
    return {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(var),
        "LANG": "C.UTF-8",
        "VIDEOAPI_HOME": str(home),
        "VIDEOAPI_SERVER__VAR_DIR": str(var),
        "VIDEOAPI_SERVER__ENVIRONMENT": "test",
        **extra,
    }


def run_entrypoint(*args: str, env: dict[str, str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def test_videoapi_home_locates_config_and_migrations_of_an_installed_package(image_home: Path) -> None:
    code = (
        "from videoapi.settings import CONFIG_DIR; from videoapi.db.migrate import alembic_config; "
        "cfg = alembic_config('sqlite+aiosqlite:///x.db'); "
        "print(CONFIG_DIR); print(cfg.config_file_name); print(cfg.get_main_option('script_location'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={"VIDEOAPI_HOME": str(image_home)}, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(image_home / "config"), str(image_home / "alembic.ini"), str(image_home / "migrations")]


def test_the_built_wheel_runs_from_its_own_site_packages_with_videoapi_home(image_home: Path, tmp_path: Path) -> None:
    # The builder stage: a wheel of pyproject.toml + README.md + src/ (nothing else is copied), then a
    # non-editable install. Every module must import from there, and the CLI must migrate and check an
    # install whose config/ and migrations/ live only under VIDEOAPI_HOME.
    context = tmp_path / "context"
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (context / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run(["cp", "-r", str(ROOT / "src"), str(context / "src")], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(context)],
        check=True, capture_output=True,
    )  # fmt: skip
    site = tmp_path / "site"
    (wheel,) = (tmp_path / "dist").glob("videoapi-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    var = tmp_path / "var"
    env = image_env(image_home, var, PYTHONPATH=str(site))
    imports = (
        "import importlib, pkgutil, videoapi; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(videoapi.__path__, 'videoapi.') "
        "if not m.name.endswith('__main__')]; "
        "print(videoapi.__file__)"
    )
    found = subprocess.run([sys.executable, "-c", imports], env=env, capture_output=True, text=True, check=False)
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip() == str(site / "videoapi" / "__init__.py")

    cli = [sys.executable, "-m", "videoapi.cli"]
    upgraded = subprocess.run([*cli, "db", "upgrade"], env=env, capture_output=True, text=True, check=False)
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    doctor = subprocess.run([*cli, "doctor", "--json"], env=env, capture_output=True, text=True, check=False)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert checks["config"]["status"] == "ok" and checks["database"]["status"] == "ok", checks
    assert "(head)" in checks["database"]["detail"]


def test_entrypoint_migrates_from_videoapi_home_then_serves_and_the_healthcheck_passes(
    image_home: Path, fresh_database: str, tmp_path: Path
) -> None:
    # Given the image layout, with the port set in its config file (so `serve` must read VIDEOAPI_HOME's).
    port = free_port()
    default = image_home / "config" / "default.toml"
    default.write_text(default.read_text().replace("port = 8000", f"port = {port}"))
    env = image_env(image_home, tmp_path / "var", VIDEOAPI_DATABASE__URL=fresh_database)

    # When the migrate one-shot runs, the schema reaches the newest revision of VIDEOAPI_HOME's migrations.
    done = run_entrypoint("db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    assert alembic_revision(fresh_database) == head_revision(image_home / "migrations")

    # And `serve` answers the image's HEALTHCHECK command, run as Docker runs it.
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(ENTRYPOINT), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    healthcheck = healthcheck_command()
    check_env = {**env, "VIDEOAPI_SERVER__PORT": str(port)}
    try:
        deadline = time.monotonic() + 60
        while True:
            result = subprocess.run(healthcheck, env=check_env, capture_output=True, text=True, timeout=10)
            if result.returncode == 0:
                break
            assert server.poll() is None, f"serve exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"healthcheck kept failing: {result.stderr[-2000:]}"
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
    # The check fails once the server is gone (it is not a check that always passes).
    assert subprocess.run(healthcheck, env=check_env, capture_output=True, timeout=10).returncode != 0


def test_migrations_come_from_videoapi_home_not_from_the_package(
    image_home: Path, fresh_database: str, tmp_path: Path
) -> None:
    # Given an install whose migrations stop one revision before the repository's.
    newest = sorted((image_home / "migrations" / "versions").glob("[0-9]*.py"))[-1]
    newest.unlink()
    env = image_env(image_home, tmp_path / "var", VIDEOAPI_DATABASE__URL=fresh_database)
    done = run_entrypoint("db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    assert alembic_revision(fresh_database) == head_revision(image_home / "migrations")
    assert alembic_revision(fresh_database) != head_revision(ROOT / "migrations")


def test_migrate_on_start_upgrades_before_serve(image_home: Path, fresh_database: str, tmp_path: Path) -> None:
    env = image_env(image_home, tmp_path / "var", VIDEOAPI_DATABASE__URL=fresh_database, VIDEOAPI_MIGRATE_ON_START="1")
    done = run_entrypoint("serve", "--help", env=env)
    assert done.returncode == 0, done.stderr
    assert "Serve the HTTP API" in done.stdout
    assert alembic_revision(fresh_database) == head_revision(ROOT / "migrations")


def test_wait_for_times_out_with_a_clear_message(image_home: Path, tmp_path: Path) -> None:
    closed = f"127.0.0.1:{free_port()}"
    env = image_env(image_home, tmp_path / "var", VIDEOAPI_WAIT_FOR=closed, VIDEOAPI_WAIT_TIMEOUT_S="1")
    started = time.monotonic()
    done = run_entrypoint("worker", "--queues", "cpu", env=env, timeout_s=30)
    assert done.returncode != 0
    assert f"timed out after 1s waiting for {closed}" in done.stderr
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("wait_for", "timeout", "message"),
    [
        ("db-without-port", "5", "is not host:port"),
        ("127.0.0.1:5432", "soon", "VIDEOAPI_WAIT_TIMEOUT_S must be a whole number"),
    ],
)
def test_bad_wait_settings_are_refused_by_name(
    image_home: Path, tmp_path: Path, wait_for: str, timeout: str, message: str
) -> None:
    env = image_env(image_home, tmp_path / "var", VIDEOAPI_WAIT_FOR=wait_for, VIDEOAPI_WAIT_TIMEOUT_S=timeout)
    done = run_entrypoint("serve", env=env, timeout_s=30)
    assert done.returncode != 0 and message in done.stderr


def test_wait_for_passes_once_the_ports_answer_then_runs_videoapi(image_home: Path, tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        target = f"127.0.0.1:{listener.getsockname()[1]}"
        env = image_env(image_home, tmp_path / "var", VIDEOAPI_WAIT_FOR=f"{target} {target}")
        done = run_entrypoint("worker", "--help", env=env, timeout_s=30)
    assert done.returncode == 0, done.stderr
    assert "--metrics-port" in done.stdout


def test_videoapi_subcommands_run_videoapi_and_other_programs_pass_through(image_home: Path, tmp_path: Path) -> None:
    env = image_env(image_home, tmp_path / "var")
    assert run_entrypoint("sh", "-c", "echo hi", env=env).stdout == "hi\n"
    assert run_entrypoint("python", "-c", "print(6 * 7)", env=env).stdout == "42\n"
    db_help = run_entrypoint("db", "--help", env=env)
    assert db_help.returncode == 0 and "upgrade" in db_help.stdout
    unknown = run_entrypoint("no-such-program", env=env)
    assert unknown.returncode != 0 and "no-such-program" in unknown.stderr


def test_the_entrypoint_knows_every_videoapi_subcommand() -> None:
    # A word missing from its list would be run as a program of that name (or not found).
    from videoapi.cli import main

    script = ENTRYPOINT.read_text()
    listed = re.search(r"^\s*(db \|[^)]*)\)", script, re.M)
    assert listed is not None
    words = {w.strip() for w in listed.group(1).split("|")} - {"-*", "''"}
    assert words | {"serve", "worker"} == set(main.commands)


def test_entrypoint_is_posix_sh_and_executable() -> None:
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    assert os.access(ENTRYPOINT, os.X_OK)
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=False).returncode == 0


# ---- migrations from several replicas at once ---------------------------------------------------


def test_concurrent_db_upgrades_serialise_and_both_succeed(fresh_database: str, tmp_path: Path) -> None:
    # Given two replicas' init containers starting at the same moment on an empty database.
    env = image_env(ROOT, tmp_path / "var", VIDEOAPI_DATABASE__URL=fresh_database)
    procs = [
        subprocess.Popen(
            [str(ENTRYPOINT), "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=180), p.stderr.read() if p.stderr else "") for p in procs]
    # Then both succeed: the second waits for the first's lock and finds the schema at head.
    assert [code for code, _ in results] == [0, 0], results
    assert alembic_revision(fresh_database) == head_revision(ROOT / "migrations")


def test_db_upgrade_waits_while_another_process_holds_the_migration_lock(fresh_database: str, tmp_path: Path) -> None:
    holder = psycopg2.connect(sync_dsn(fresh_database))
    holder.autocommit = True
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        env = image_env(ROOT, tmp_path / "var", VIDEOAPI_DATABASE__URL=fresh_database)
        proc = subprocess.Popen(
            [str(ENTRYPOINT), "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(4)  # stays: the assert is that the upgrade is still blocked on the lock after a while
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert alembic_revision(fresh_database) is None
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        holder.close()
    assert alembic_revision(fresh_database) == head_revision(ROOT / "migrations")


def test_the_lock_is_released_after_an_upgrade(fresh_database: str, tmp_path: Path) -> None:
    env = image_env(ROOT, tmp_path / "var", VIDEOAPI_DATABASE__URL=fresh_database)
    assert run_entrypoint("db", "upgrade", env=env).returncode == 0
    with psycopg2.connect(sync_dsn(fresh_database)) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        row = cur.fetchone()
        assert row is not None and row[0] is True
