"""`videoapi doctor`: check an installation end to end and say how to fix what is wrong.

Each probe is a plain function `settings -> [Check]` that talks to one dependency (the database,
the broker, the store, ffmpeg, ...). `run_checks` runs them side by side, each in a daemon thread
with its own time limit, so one hung dependency costs its own line, never the whole report, and an
exception is a `fail` line instead of a traceback.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from videoapi.settings import Settings, secret_problems

Status = Literal["ok", "info", "warn", "fail"]
STATUSES: tuple[Status, ...] = ("ok", "info", "warn", "fail")

REQUIRED_ENCODERS = ("libx264", "libvpx-vp9", "libopus", "aac")
REQUIRED_FILTERS = ("drawtext", "subtitles", "ass", "xfade", "sidechaincompress")
# Values people leave in config files from examples; a secret equal to one of them is no secret.
DISK_WARN_FREE = 0.10
DISK_FAIL_FREE = 0.02
NETWORK_TIMEOUT_S = 5.0
"""Connect/read timeout handed to each client library; the probe's own limit is a little longer."""


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[[Settings], list[Check]]
    timeout_s: float


def run_checks(settings: Settings, probes: list[Probe] | None = None) -> list[Check]:
    """Run the probes concurrently; the checks come back in probe order."""
    probes = default_probes() if probes is None else probes
    results: dict[int, list[Check]] = {}

    def run_one(index: int, probe: Probe) -> None:
        try:
            results[index] = probe.run(settings)
        except Exception as exc:
            results[index] = [Check(probe.name, "fail", f"the check itself failed: {_error(exc)}")]

    started = []
    for index, probe in enumerate(probes):
        thread = threading.Thread(target=run_one, args=(index, probe), name=f"doctor-{probe.name}", daemon=True)
        thread.start()
        started.append((thread, time.monotonic() + probe.timeout_s))
    checks: list[Check] = []
    for index, (probe, (thread, deadline)) in enumerate(zip(probes, started, strict=True)):
        thread.join(max(0.0, deadline - time.monotonic()))
        if index in results:
            checks += results[index]
        else:
            checks.append(
                Check(
                    probe.name,
                    "fail",
                    f"no answer within {probe.timeout_s:g} s",
                    fix="find out why it hangs (the check is abandoned, not stopped)",
                )
            )
    return checks


def default_probes() -> list[Probe]:
    return [
        Probe("config", check_config, 5.0),
        Probe("database", check_database, 15.0),
        Probe("broker", check_broker, 15.0),
        Probe("rate limiter", check_rate_limiter, 15.0),
        Probe("store", check_store, 20.0),
        Probe("ffmpeg", check_ffmpeg, 30.0),
        Probe("hardware encoders", check_encoders, 60.0),
        Probe("fonts", check_fonts, 30.0),
        Probe("tts", check_tts, 10.0),
        # Importing torch alone can take several seconds on a cold disk.
        Probe("gpu", check_gpu, 90.0),
        Probe("models", check_models, 60.0),
        Probe("disk", check_disk, 10.0),
    ]


def config_failure(error: Exception) -> Check:
    """The line for settings that do not load (then no other check can run)."""
    return Check(
        "config", "fail", str(error), fix="correct the named field in the config file or its VIDEOAPI_* variable"
    )


# ---- config -------------------------------------------------------------------------------------


def check_config(settings: Settings) -> list[Check]:
    env = settings.server.environment
    db = "SQLite" if settings.database_url.startswith("sqlite") else "PostgreSQL"
    checks = [
        Check(
            "config",
            "ok",
            f"loaded: environment {env}, {db}, broker {settings.queue.broker}, storage {settings.storage.backend}",
        )
    ]
    checks += _public_url_checks(settings)
    if env != "production":
        return checks
    # Each works in production, on one machine only: a warning, with the way out.
    single_node = [
        (
            db == "SQLite",
            "production on SQLite: one machine, one writer at a time",
            "set database.url = postgresql+asyncpg://USER@HOST:5432/DB and run `videoapi db upgrade`",
        ),
        (
            settings.queue.broker == "stub",
            "production on the in-process broker: work runs only inside the API process",
            "set queue.broker = redis or rabbitmq with queue.url, and run `videoapi worker` processes",
        ),
        (
            settings.storage.backend == "local",
            f"production on the local store ({settings.storage_dir}): files live on this machine only",
            "set storage.backend = s3 with the s3_* settings (MinIO or any S3 endpoint)",
        ),
    ]
    checks += [Check("config", "warn", detail, fix=fix) for applies, detail, fix in single_node if applies]
    checks += [Check("config", "fail", problem, fix) for problem, fix in secret_problems(settings)]
    return checks


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"})


def _public_url_checks(settings: Settings) -> list[Check]:
    """Signed download URLs start with the public URL: one that names this machine on another port than
    the bound one hands out dead links; a derived one names 127.0.0.1 when binding every interface."""
    server = settings.server
    if not server.public_url:
        if server.host in ("0.0.0.0", "::"):
            return [
                Check(
                    "config",
                    "warn",
                    f"server.public_url is empty, so download URLs name {server.base_url}, "
                    "which only this machine can reach",
                    fix="set server.public_url to the URL clients reach the API at",
                )
            ]
        return []
    parts = urlsplit(server.public_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.hostname in LOOPBACK_HOSTS | {server.host} and port != server.port:
        return [
            Check(
                "config",
                "warn",
                f"server.public_url {server.public_url} names port {port}, but serve binds port {server.port}: "
                "download URLs point at the wrong port",
                fix="leave server.public_url empty (it then follows server.host and server.port) or correct it",
            )
        ]
    return []


# ---- database, broker, store --------------------------------------------------------------------


def check_database(settings: Settings) -> list[Check]:
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from videoapi.db.migrate import alembic_config

    url = settings.database_url
    shown = make_url(url).render_as_string(hide_password=True)
    upgrade_fix = "run `videoapi db upgrade`"
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[-1])
        if not path.exists():
            return [Check("database", "fail", f"SQLite database {path} does not exist (not migrated yet)", upgrade_fix)]
    try:
        revision = asyncio.run(_current_revision(url))
    except Exception as exc:
        return [
            Check(
                "database",
                "fail",
                f"cannot connect to {shown}: {_error(exc)}",
                fix="check database.url and that the database server is running and reachable",
            )
        ]
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    known = {rev.revision for rev in script.walk_revisions()}
    if revision == head:
        return [Check("database", "ok", f"{shown} at revision {revision} (head)")]
    if revision is None:
        return [Check("database", "fail", f"{shown} has no schema (not migrated)", upgrade_fix)]
    if revision not in known:
        return [
            Check(
                "database",
                "fail",
                f"{shown} is at revision {revision}, which this release does not know (a newer release migrated it)",
                fix="run the release that migrated it, or a newer one",
            )
        ]
    return [Check("database", "fail", f"{shown} is at revision {revision}; this release needs {head}", upgrade_fix)]


async def _current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    connect_args: dict[str, Any] = {} if url.startswith("sqlite") else {"timeout": NETWORK_TIMEOUT_S}
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    finally:
        await engine.dispose()


def check_broker(settings: Settings) -> list[Check]:
    broker, url = settings.queue.broker, settings.queue.url
    if broker == "stub":
        return [Check("broker", "ok", "in-process (stub): embedded workers in `videoapi serve`")]
    if broker == "redis":
        return [_redis_check("broker", url, "queue.url")]
    try:
        _rabbitmq_connect(url)
    except Exception as exc:
        return [
            Check(
                "broker",
                "fail",
                f"cannot connect to RabbitMQ at {_redact(url)}: {_error(exc)}",
                fix="check queue.url (user, password, vhost) and that RabbitMQ is running",
            )
        ]
    return [Check("broker", "ok", f"RabbitMQ at {_redact(url)} accepts connections")]


def check_rate_limiter(settings: Settings) -> list[Check]:
    if settings.gateway.rate_limit_backend != "redis":
        return [Check("rate limiter", "ok", "in memory, per API process")]
    return [_redis_check("rate limiter", settings.rate_limit_redis_url, "gateway.redis_url")]


def _redis_check(name: str, url: str, field: str) -> Check:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=NETWORK_TIMEOUT_S, socket_timeout=NETWORK_TIMEOUT_S)
    try:
        client.ping()
        version = client.info("server").get("redis_version", "?")
    except Exception as exc:
        return Check(
            name, "fail", f"cannot reach Redis at {_redact(url)}: {_error(exc)}", f"check {field} and that Redis runs"
        )
    finally:
        client.close()
    return Check(name, "ok", f"Redis {version} at {_redact(url)} answers PING")


def _rabbitmq_connect(url: str) -> None:
    import pika

    params = pika.URLParameters(url)
    params.socket_timeout = NETWORK_TIMEOUT_S
    params.blocked_connection_timeout = NETWORK_TIMEOUT_S
    params.connection_attempts = 1
    params.stack_timeout = NETWORK_TIMEOUT_S
    pika.BlockingConnection(params).close()


def check_store(settings: Settings) -> list[Check]:
    cfg = settings.storage
    where = (
        f"local store at {settings.storage_dir}"
        if cfg.backend == "local"
        else f"S3 bucket {cfg.s3_bucket} at {cfg.s3_endpoint}"
    )
    try:
        asyncio.run(_store_round_trip(settings))
    except Exception as exc:
        fix = (
            f"make {settings.storage_dir} writable by this user (storage.local_dir)"
            if cfg.backend == "local"
            else "check storage.s3_endpoint, s3_secure, the access keys and the bucket's permissions"
        )
        return [Check("store", "fail", f"{where}: {_error(exc)}", fix)]
    return [Check("store", "ok", f"{where}: wrote, read back and deleted a probe object")]


async def _store_round_trip(settings: Settings) -> None:
    from videoapi.storage import make_store

    store = make_store(settings)
    key = f"doctor/probe-{uuid.uuid4().hex}"
    payload = f"videoapi doctor {uuid.uuid4()}".encode()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src, back = Path(tmp) / "probe", Path(tmp) / "back"
            src.write_bytes(payload)
            await store.put_file(key, src, "text/plain")
            try:
                await store.fetch_to_file(key, back)
                if back.read_bytes() != payload:
                    raise RuntimeError("the object read back differs from what was written")
            finally:
                await store.delete(key)
    finally:
        await store.close()


# ---- media tools --------------------------------------------------------------------------------


def check_ffmpeg(settings: Settings) -> list[Check]:
    import imageio_ffmpeg

    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
        banner = _run([exe, "-hide_banner", "-version"]).split()  # "ffmpeg version N Copyright ..."
        version = banner[2] if len(banner) > 2 and banner[1] == "version" else "(unknown version)"
    except Exception as exc:
        return [
            Check(
                "ffmpeg",
                "fail",
                f"the bundled ffmpeg does not run: {_error(exc)}",
                "reinstall imageio-ffmpeg (`pip install --force-reinstall imageio-ffmpeg`) or set IMAGEIO_FFMPEG_EXE",
            )
        ]
    checks = [Check("ffmpeg", "ok", f"ffmpeg {version} ({exe})")]
    build_fix = "use an ffmpeg build that has them (imageio-ffmpeg's bundled binary does; see IMAGEIO_FFMPEG_EXE)"
    for name, flag, wanted in (("encoders", "-encoders", REQUIRED_ENCODERS), ("filters", "-filters", REQUIRED_FILTERS)):
        have = _listed_names(_run([exe, "-hide_banner", flag]))
        missing = [n for n in wanted if n not in have]
        if missing:
            checks.append(Check(f"ffmpeg {name}", "fail", f"missing: {', '.join(missing)}", build_fix))
        else:
            checks.append(Check(f"ffmpeg {name}", "ok", ", ".join(wanted)))
    return checks


def _listed_names(listing: str) -> set[str]:
    """Names from `ffmpeg -encoders` / `-filters`: the second column of each line after the legend."""
    names = set()
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] != "=" and re.fullmatch(r"[A-Z.]{2,6}", parts[0]):
            names.add(parts[1])
    return names


def check_fonts(settings: Settings) -> list[Check]:
    from videoapi.editing.subtitles import pick_font
    from videoapi.errors import AppError

    # (line, sample text, language, status and detail when no font draws it, fix): what subtitles would pick.
    wanted: list[tuple[str, str, str, Status, str, str]] = [
        (
            "font",
            "Subtitles",
            "en",
            "fail",
            "no font at all: text overlays and subtitles are refused (422 font_unavailable)",
            "install fonts-dejavu-core (or put fonts in editing.fonts_dir)",
        ),
        (
            "cjk font",
            "字幕",
            "zh",
            "warn",
            "no font with CJK glyphs: Chinese, Japanese and Korean text is refused (422 font_unavailable)",
            "install fonts-noto-cjk (or put a CJK font in editing.fonts_dir)",
        ),
    ]
    checks = []
    for name, sample, language, status, missing, fix in wanted:
        try:
            font = pick_font(None, sample, language, settings)
        except AppError:
            checks.append(Check(name, status, missing, fix))
            continue
        checks.append(Check(name, "ok", f"{font.family} ({font.path})"))
    return checks


def check_tts(settings: Settings) -> list[Check]:
    from videoapi.editing.tts import BINARY

    path = shutil.which(BINARY)
    if path is None:
        return [
            Check(
                "tts",
                "warn",
                f"{BINARY} is not on PATH: narration requests fail with 503 tts_unavailable",
                fix="apt-get install espeak-ng (or brew install espeak-ng); `make run` installs it",
            )
        ]
    # "eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/...": the part before the data path.
    version = _run([path, "--version"]).strip().splitlines()[0].split("  Data at")[0]
    return [Check("tts", "ok", f"{version} ({path})")]


# ---- generation ---------------------------------------------------------------------------------


def check_encoders(settings: Settings) -> list[Check]:
    """Encode a few frames with each hardware encoder, as a worker does at start; unusable is info, not a
    failure: `encoder: auto` then encodes in software."""
    from videoapi.media.hardware import probe_encoders

    if not settings.outputs.probe_hardware:
        return [Check("hardware encoders", "info", "not probed (outputs.probe_hardware is off): software only")]
    found = probe_encoders(settings.outputs.hardware_probe_timeout_s)
    return [
        Check(f"encoder {s.encoder}", "ok", "encodes frames on this node")
        if s.usable
        else Check(f"encoder {s.encoder}", "info", f"unusable: {s.reason}")
        for s in found.values()
    ]


def check_gpu(settings: Settings) -> list[Check]:
    import torch

    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        count = torch.cuda.device_count()
        return [
            Check(
                "gpu",
                "ok",
                f"{props.name}: {_gib(total)} GiB, {_gib(free)} GiB free"
                + (f" ({count} GPUs)" if count > 1 else "")
                + f"; torch {torch.__version__}, CUDA {torch.version.cuda}",
            )
        ]
    if settings.generation.device == "cuda":
        return [
            Check(
                "gpu",
                "fail",
                f"generation.device = cuda but torch {torch.__version__} sees no CUDA GPU",
                fix="install a CUDA build of torch and the NVIDIA driver, or set generation.device = auto",
            )
        ]
    if _generation_enabled(settings):
        return [
            Check(
                "gpu",
                "warn",
                f"no CUDA GPU (torch {torch.__version__}): generation runs on CPU, minutes per clip",
                fix="run `videoapi worker --queues gpu` on a machine with an NVIDIA GPU and a CUDA build of torch",
            )
        ]
    return [Check("gpu", "info", "no CUDA GPU; no generation model is configured, so none is needed")]


def _generation_enabled(settings: Settings) -> bool:
    from videoapi.generation.registry import load_registry
    from videoapi.settings import SettingsError

    try:
        return bool(load_registry(settings).models)
    except SettingsError:
        return True  # a broken registry is the models check's line; assume generation is wanted


def check_models(settings: Settings) -> list[Check]:
    from videoapi.generation.cache import install_hint
    from videoapi.generation.registry import availability, load_registry, resolve_source
    from videoapi.settings import SettingsError

    try:
        registry = load_registry(settings)
    except SettingsError as exc:
        return [Check("models", "fail", str(exc), fix="correct the registry file (generation.models_file)")]
    checks = _asr_checks(settings, registry) + _voice_checks(settings)
    if not registry.models:
        return [Check("models", "info", f"no generation models in {registry.path}"), *checks]
    for name, spec in registry.models.items():
        state = availability(settings, spec)
        if state == "installed":
            checks.append(Check(f"model {name}", "ok", f"weights present ({resolve_source(settings, spec)})"))
        elif state == "downloadable":
            checks.append(
                Check(
                    f"model {name}",
                    "warn",
                    "weights not here; the first task fetches them (generation.allow_downloads)",
                    fix=f"`videoapi models download {name}` fetches them ahead of the first task",
                )
            )
        else:
            checks.append(
                Check(f"model {name}", "warn", "weights missing: its tasks fail", fix=install_hint(spec, settings))
            )
    return checks + _quantization_checks(registry)


def _quantization_checks(registry: Any) -> list[Check]:
    """Models that load with quantized weights (`quantize`) need torchao (an optional extra) in the worker."""
    from videoapi.generation.quantize import INSTALL, torchao_installed

    wanted = {name: spec.quantize for name, spec in registry.models.items() if spec.quantize}
    if not wanted:
        return []
    asked = ", ".join(f"{name} ({method})" for name, method in wanted.items())
    if torchao_installed():
        return [Check("quantization", "ok", f"torchao installed for the quantized models: {asked}")]
    return [
        Check(
            "quantization",
            "warn",
            f"torchao is not installed, so the models that ask for quantized weights fail at load "
            f"(quantization_unavailable): {asked}",
            fix=f"`{INSTALL}` on the workers that run them",
        )
    ]


def _asr_checks(settings: Settings, registry: Any) -> list[Check]:
    """Speech-recognition models: weights present, or how to install them (POST /v1/video/transcribe refuses them)."""
    from videoapi.generation.registry import asr_install_hint, asr_weights

    checks = []
    for name, spec in registry.asr.items():
        weights = asr_weights(settings, spec)
        if weights is not None:
            checks.append(Check(f"asr model {name}", "ok", f"weights present ({weights})"))
        else:
            checks.append(
                Check(
                    f"asr model {name}",
                    "warn",
                    "weights missing: transcriptions naming it are refused (503 model_not_installed)",
                    fix=asr_install_hint(spec),
                )
            )
    return checks


def _voice_checks(settings: Settings) -> list[Check]:
    """Neural narration voices: optional (espeak-ng is the fallback), so a missing one is only noted."""
    from videoapi.media.voices import install_hint, load_voices, voice_weights

    checks = []
    for name, spec in load_voices(settings).items():
        weights = voice_weights(settings, spec)
        if weights is not None:
            checks.append(Check(f"tts voice {name}", "ok", f"weights present ({weights}); licence {spec.licence}"))
        else:
            detail = "weights missing: narrations naming it are refused (503 model_not_installed)"
            checks.append(Check(f"tts voice {name}", "info", detail, fix=install_hint(spec)))
    return checks


# ---- disk ---------------------------------------------------------------------------------------


def check_disk(settings: Settings) -> list[Check]:
    places = {"var dir": settings.var_path}
    if settings.storage.backend == "local":
        places["store"] = settings.storage_dir
    places["models dir"] = settings.models_dir
    checks: list[Check] = []
    seen: set[int] = set()
    for label, path in places.items():
        existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
        device = existing.stat().st_dev
        if device in seen:  # same filesystem as a place already reported
            continue
        seen.add(device)
        usage = shutil.disk_usage(existing)
        free = usage.free / usage.total if usage.total else 0.0
        detail = f"{label} {path}: {_gib(usage.free)} GiB free of {_gib(usage.total)} GiB ({free:.0%})"
        name = "disk" if not checks else f"disk ({label})"
        if free < DISK_FAIL_FREE:
            checks.append(Check(name, "fail", detail, fix="free space now: outputs and uploads fail when it runs out"))
        elif free < DISK_WARN_FREE:
            checks.append(
                Check(name, "warn", detail, fix="free space, or lower retention.outputs_s (`videoapi purge`)")
            )
        else:
            checks.append(Check(name, "ok", detail))
    return checks


# ---- helpers ------------------------------------------------------------------------------------


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=True)
    return done.stdout or done.stderr


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f}"


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
