"""Typed settings: config/default.toml, then the file named by VIDEOAPI_CONFIG, then VIDEOAPI_* env vars.

Environment variables name a field by its path with double underscores:
`VIDEOAPI_DATABASE__URL=postgresql+asyncpg://...`, `VIDEOAPI_QUEUE__BROKER=redis`.
Values are parsed as TOML scalars where they can be (numbers, booleans, arrays), else as strings.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

ENV_PREFIX = "VIDEOAPI_"
# VIDEOAPI_* variables that are not settings: the extra config file, the install root, and the
# container entrypoint's switches (deploy/docker/entrypoint.sh), which `docker exec` shells inherit, and
# the API clients' URL and key (`videoapi mcp`, the SDK), which a shell that also runs `videoapi serve` sets.
NOT_SETTINGS = frozenset(
    f"{ENV_PREFIX}{name}"
    for name in ("CONFIG", "HOME", "WAIT_FOR", "WAIT_TIMEOUT_S", "MIGRATE_ON_START", "URL", "API_KEY", "KEY")
)


def videoapi_home() -> Path:
    """Root holding config/, migrations/ and alembic.ini: VIDEOAPI_HOME, else this source checkout.

    A non-editable install (the container image) lives in site-packages, away from those files.
    """
    return Path(os.environ.get(f"{ENV_PREFIX}HOME") or Path(__file__).resolve().parents[2])


CONFIG_DIR = videoapi_home() / "config"


Priority = Literal["low", "normal", "high"]
"""Task priorities, lowest first: the scale of the task table, of key caps and of the JWT cap."""


class SettingsError(Exception):
    """The configuration is invalid; the message names the field and the reason."""


class Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerSettings(Base):
    host: str = "127.0.0.1"
    """Address `videoapi serve` binds to."""
    port: int = 8000
    """Port `videoapi serve` binds to."""
    public_url: str = ""
    """Base URL clients reach the API at; signed download URLs of the local store start with it.
    Empty: `http://HOST:PORT` of the address `videoapi serve` binds (127.0.0.1 for 0.0.0.0); set it
    behind a proxy or when other machines fetch downloads."""
    environment: Literal["development", "production", "test"] = "development"
    """`production` switches logs to JSON and refuses to start with a placeholder or short secret;
    `development` creates and prints a first API key when `serve` binds to a loopback address."""
    embedded_workers: bool = True
    """Run queue workers as threads inside `videoapi serve` (the embedded shape)."""
    worker_threads: int = 2
    """Worker threads per process (embedded or `videoapi worker`)."""
    worker_idle_poll_ms: int = 100
    """How long an idle embedded worker thread waits for a message before it looks whether the server is
    stopping: the shutdown waits up to about twice this. Lower stops faster and wakes idle threads more."""
    var_dir: str = "var"
    """Directory for the SQLite file, local storage and temporary work files."""
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    """CIDRs of reverse proxies whose X-Forwarded-For is believed; empty: the socket address is the client."""

    @property
    def base_url(self) -> str:
        """`public_url`, or the URL of the bound host and port when it is empty."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


class DatabaseSettings(Base):
    url: str = ""
    """SQLAlchemy async URL; empty means SQLite at `<var_dir>/videoapi.db`."""
    echo: bool = False
    """Log every SQL statement."""
    pool_size: int = 10
    """Connections per process (PostgreSQL)."""
    pool_pre_ping: bool = False
    """Test each pooled connection before use (one more round trip per request). Off: a connection
    broken by a database restart fails one statement, is discarded, and the pool reconnects."""
    pool_recycle_s: float = 1800.0
    """Replace pooled connections older than this (PostgreSQL)."""


class QueueSettings(Base):
    broker: Literal["stub", "redis", "rabbitmq"] = "stub"
    """`stub` is in-process (embedded shape); `redis` and `rabbitmq` need `url`."""
    url: str = ""
    """Broker URL, e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672/."""
    namespace: str = "videoapi"
    """Prefix for broker keys and queue names, so several installs can share one broker."""


class TaskSettings(Base):
    lease_s: float = 30.0
    """How long a claim stays valid without renewal; a dead worker's task runs again after it."""
    heartbeat_s: float = 0.5
    """How often a running task renews its lease, saves progress and looks for a cancel."""
    reconcile_interval_s: float = 5.0
    """How often each process re-queues expired leases and re-publishes lost messages."""
    max_attempts: int = 3
    """Attempts per task, counting the first; only transient errors and lost workers retry."""
    retry_backoff_s: float = 2.0
    """First retry delay; doubled for each further attempt (with jitter)."""
    time_limit_s: dict[str, float] = msgspec.field(default_factory=dict)
    """Per-kind time limit for one attempt, e.g. {"edit.trim" = 600}."""
    default_time_limit_s: float = 1800.0
    """Time limit for kinds missing from `time_limit_s`."""
    read_cache: bool = False
    """Serve `GET /v1/video/tasks/{id}` from a Redis copy of each task's view (gateway.redis_url, or
    queue.url with the Redis broker), invalidated by every transition. Turn it on in every process,
    workers included: a writer without it leaves stale views until `read_cache_ttl_s`."""
    read_cache_ttl_s: float = 30.0
    """Lifetime of a cached view: the bound on staleness when a writer died between its commit and
    the invalidation."""


class StorageSettings(Base):
    backend: Literal["local", "s3"] = "local"
    """`local` keeps objects under `local_dir`; `s3` talks to MinIO or any S3 endpoint."""
    local_dir: str = ""
    """Directory of the local store; empty means `<var_dir>/storage`."""
    signing_secret: str = ""
    """HMAC key for local download URLs; empty means one generated once into `<var_dir>/signing.key`."""
    url_ttl_s: int = 3600
    """Lifetime of signed download URLs."""
    s3_endpoint: str = "127.0.0.1:9000"
    """host:port of the S3 endpoint."""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "videoapi"
    s3_secure: bool = False
    """Use HTTPS to reach the S3 endpoint."""
    s3_region: str = "us-east-1"
    s3_public_endpoint: str = ""
    """host:port clients use for presigned URLs, when it differs from `s3_endpoint`."""


class LimitSettings(Base):
    max_upload_bytes: int = 2 * 1024**3
    """Largest accepted upload or fetched file."""
    max_duration_s: float = 3600.0
    """Longest accepted input media."""
    max_width: int = 7680
    max_height: int = 7680
    max_pixels: int = 7680 * 4320
    """Largest frame (width x height) accepted; refuses decompression bombs before decoding."""
    fetch_timeout_s: float = 120.0
    """Total time allowed to fetch one URL input."""
    fetch_max_redirects: int = 5
    fetch_allow_cidrs: list[str] = msgspec.field(default_factory=list)
    """Networks URL inputs may reach although they are private (e.g. an internal media server)."""
    page_size_max: int = 100
    """Largest page of a list endpoint."""
    max_media_reads_per_owner: int = 2
    """URL asset fetches and watermark reads one caller may have running in the API process at once;
    more get 429 `too_many_concurrent` (uploads are not counted: they stream to disk)."""
    max_media_reads: int = 8
    """The same, over all callers of one API process."""
    storage_quota_bytes: int | None = None
    """Bytes each owner may keep in the store (assets and outputs, until deleted or expired); an upload
    or URL asset that would pass it is refused with 402 `storage_quota_exceeded`. None: unlimited.
    `videoapi keys storage-quota` sets it per key."""


class EditSettings(Base):
    """Limits of edit requests; exceeding one is a 422 that names it."""

    max_inputs: int = 20
    """Media inputs one request may name (clips, images, music, overlays)."""
    max_timeline_s: float = 3600.0
    """Longest output an edit may produce."""
    max_output_width: int = 3840
    max_output_height: int = 3840
    max_output_pixels: int = 3840 * 2160
    max_overlays: int = 50
    """Text and image overlays of one timeline."""
    max_output_pixel_seconds: float = 3840 * 2160 * 600.0
    """Width x height x duration of one output: 10 minutes of 4K; bounds the work of one task."""
    max_text_chars: int = 2000
    """Characters of one text overlay or TTS narration."""
    max_subtitle_cues: int = 5000
    time_limit_per_output_s: float = 20.0
    """An edit's time limit is its kind's `tasks.time_limit_s` plus this much per output second."""
    fonts_dir: str | None = None
    """Extra directory of fonts for text and subtitles; the system's fonts (fontconfig) are always used."""


class OutputSettings(Base):
    """Limits and shape of the GIF and HLS outputs; exceeding a GIF limit is a 422 that names it."""

    gif_max_width: int = 640
    """Widest GIF, in pixels: a GIF stores every frame's pixels with LZW only, so size grows fast."""
    gif_max_height: int = 640
    gif_max_fps: float = 25.0
    """Highest GIF frame rate; a transcode to GIF without `fps` takes the input's, capped at this."""
    gif_max_duration_s: float = 30.0
    """Longest GIF, in seconds of the input."""
    hls_segment_s: float = 4.0
    """Target length of an HLS segment (cut on the 2 s keyframes)."""
    probe_hardware: bool = True
    """Each worker encodes a few frames with every hardware encoder (NVENC, QSV, VAAPI) at start to know
    which really work; off: none is used (`encoder: auto` encodes in software, an explicit one fails)."""
    hardware_probe_timeout_s: float = 20.0
    """Time limit of one encoder's probe."""


class RetentionSettings(Base):
    """How long files are kept; the workers purge on schedule and `videoapi purge` does it at once."""

    inputs_s: float = 24 * 3600.0
    """Uploaded and fetched inputs are deleted this long after creation (kept while a task needs them)."""
    outputs_s: float = 30 * 24 * 3600.0
    """Produced outputs are deleted this long after creation; 0 keeps them forever."""
    interval_s: float = 300.0
    """How often a worker runs the purge."""
    batch_size: int = 500
    """Assets deleted per purge transaction."""


class AuthSettings(Base):
    """JWT bearer tokens, accepted besides API keys when some key material is configured."""

    jwt_secret: str = ""
    """Shared secret of HS256 tokens; empty: HS256 tokens are refused."""
    jwt_public_key: str = ""
    """PEM public key (the text, or a path to a .pem file) of RS256/ES256 tokens."""
    jwt_jwks_url: str = ""
    """JWKS of RS256/ES256 tokens: an http(s) URL (cached, see `jwt_jwks_cache_s`) or a file path."""
    jwt_jwks_cache_s: float = 300.0
    """How long a fetched JWKS is used before it is fetched again (an unknown `kid` refetches sooner)."""
    jwt_issuer: str = ""
    """Required `iss` claim; empty: not checked."""
    jwt_audience: str = ""
    """Required `aud` claim; empty: not checked."""
    jwt_leeway_s: float = 30.0
    """Clock skew tolerated on `exp`, `nbf` and `iat`."""
    jwt_default_scopes: list[str] = msgspec.field(default_factory=list)
    """Scopes of a token that carries no `scope`/`scopes` claim."""
    jwt_max_priority: Priority = "normal"
    """Highest task priority a token may ask for."""


class GatewaySettings(Base):
    """Per-key limits, idempotency, batches and webhooks."""

    rate_limit_backend: Literal["memory", "redis"] = "memory"
    """`memory`: token buckets per process; `redis`: shared by every process using `redis_url`."""
    redis_url: str = ""
    """Redis of the rate limiter; empty: `queue.url` when the broker is Redis."""
    default_rate_per_s: float = 10.0
    """Requests per second of a key (or token subject) without its own rate."""
    default_burst: int = 20
    """Bucket size of a key without its own burst: requests it may send at once."""
    default_max_active_tasks: int = 50
    """Queued plus running tasks a key may have at once (50: one full batch); 0: unlimited. Keys can set
    their own (`keys create --max-tasks`)."""
    default_max_priority: Priority = "normal"
    """Highest task priority a key without its own cap may ask for; `keys create --max-priority high`
    grants more to one key."""
    max_queue_depth: int = 0
    """Creates answer 503 while the target queue holds more queued tasks than this; 0: never."""
    shed_retry_after_s: int = 5
    """Retry-After of a 503 from load shedding."""
    max_batch_items: int = 50
    """Requests one batch call may carry."""
    max_wait_s: float = 30.0
    """Cap of `Prefer: wait=N`."""
    idempotency_ttl_s: float = 24 * 3600.0
    """How long an Idempotency-Key is remembered."""
    idempotency_lock_s: float = 120.0
    """A request still in flight holds its key this long at most (a crashed request frees it after)."""
    webhook_retry_delays_s: list[float] = msgspec.field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    """Delay before each retry of a failed delivery (Standard Webhooks schedule); jittered by 10 %."""
    webhook_timeout_s: float = 15.0
    """Deadline of one whole delivery attempt: address check, connect, request and response body together."""
    webhook_max_in_flight: int = 32
    """Deliveries one worker process sends at once; a slow endpoint holds one of these, not the dispatcher."""
    webhook_max_in_flight_per_owner: int = 2
    """Deliveries of one owner a worker process sends at once, so one owner's slow endpoint cannot take every slot."""
    webhook_poll_interval_s: float = 1.0
    """How often each worker process looks for finished tasks and due deliveries."""
    webhook_allow_cidrs: list[str] = msgspec.field(default_factory=list)
    """Private networks webhook targets may reach (like `limits.fetch_allow_cidrs` for inputs)."""
    webhook_allow_ports: list[int] = msgspec.field(default_factory=lambda: [80, 443])
    """Ports webhook targets may use (explicit, or the scheme's default); empty: any port."""
    webhook_secret: str = ""
    """Master secret of JWT subjects' webhooks: each subject signs with its own secret derived from this one
    (`GET /v1/video/webhooks/secret`); empty: they get no webhooks."""


class DestinationSettings(Base):
    """Copies of outputs to the callers' own S3-compatible buckets (`/v1/video/destinations`)."""

    encryption_key: str = ""
    """Key that encrypts destinations' credentials at rest (`openssl rand -hex 32`). To change it, move the
    old one to `previous_encryption_keys`, then run `videoapi destinations rekey`. Empty: derived from the
    storage signing secret, refused in production."""
    previous_encryption_keys: list[str] = msgspec.field(default_factory=list)
    """Keys that sealed credentials before `encryption_key`: still read, never used to seal. Once
    `videoapi destinations rekey` reports none left under them, remove them."""
    allow_cidrs: list[str] = msgspec.field(default_factory=list)
    """Private networks destination endpoints may reach (like `gateway.webhook_allow_cidrs`)."""
    allow_ports: list[int] = msgspec.field(default_factory=lambda: [80, 443])
    """Ports destination endpoints may use (explicit, or the scheme's default); empty: any port."""
    retry_delays_s: list[float] = msgspec.field(default_factory=lambda: [10.0, 60.0, 300.0, 1800.0, 7200.0])
    """Delay before each retry of a failed delivery, jittered by 10 %; after the last the delivery is failed."""
    timeout_s: float = 900.0
    """Deadline of one delivery attempt: every output of the task copied."""
    max_in_flight: int = 4
    """Deliveries one worker process copies at once."""
    poll_interval_s: float = 1.0
    """How often each worker process looks for finished tasks and due deliveries."""


class GenerationSettings(Base):
    """Generation models and the GPU worker: where weights live, the device, batching, the pipeline cache."""

    models_file: str = ""
    """Model registry (TOML); empty: `config/models.toml` of this install."""
    models_dir: str = ""
    """Directory of downloaded weights, one folder per model name; empty: `<var_dir>/models`."""
    allow_downloads: bool = False
    """Let workers fetch missing weights from the Hugging Face Hub at load time; off: local files only."""
    device: Literal["auto", "cuda", "cpu"] = "auto"
    """Where pipelines run; `auto` picks CUDA when torch sees a GPU, else the CPU (slow but correct)."""
    max_batch: int = 4
    """Compatible queued tasks (same model, kind, size, frames, steps) one GPU claim may take and run as one call."""
    batch_wait_ms: int = 0
    """After claiming a task, wait this long for compatible ones to fill the batch before running it."""
    max_loaded_models: int = 1
    """Pipelines kept loaded at once (least recently used evicted first)."""
    cache_memory_fraction: float = 0.9
    """On CUDA, also evict loaded pipelines while more than this fraction of GPU memory is allocated."""
    cpu_threads: int = 0
    """torch intra-op threads on the CPU device, for generation, neural narration voices and lip sync; 0: torch's
    default."""


class SpeechSettings(Base):
    """Speech recognition (POST /v1/video/transcribe): how audio is cut and how faster-whisper runs."""

    chunk_s: float = 300.0
    """Audio decoded and transcribed per window, so memory stays bounded whatever the input's length;
    each cut is moved to the quietest point of the window's last 10 s."""
    cpu_threads: int = 0
    """CTranslate2 threads on the CPU; 0: the cores this process may use."""
    max_loaded_models: int = 1
    """ASR models kept loaded at once per worker process (least recently used evicted first)."""
    time_limit_per_audio_s: float = 1.0
    """Seconds of time limit added per second of input audio, on top of `tasks.time_limit_s`."""
    max_prompt_audio_s: float = 60.0
    """Longest `prompt_audio` of a generation request: it is transcribed by the API process at submission."""


class BillingSettings(Base):
    pricing_file: str = ""
    """Price sheet TOML; empty: config/pricing.toml."""
    unprobed_reserve_s: float = 600.0
    """Output seconds reserved for an edit whose URL inputs are not probed yet (it is charged at most that)."""


class ModerationSettings(Base):
    enabled: bool = True
    """Screen prompts and user text (overlays, subtitles, narration) before work is created."""
    rules_file: str = ""
    """Rules TOML; empty: config/moderation.toml."""
    scan_outputs: bool = True
    """Scan frames of every output with the NSFW detector before it is stored."""
    output_threshold: float = 0.6
    """Detector score at or above which a frame with a blocked class blocks the output."""
    output_blocked_classes: list[str] = msgspec.field(
        default_factory=lambda: [
            "FEMALE_GENITALIA_EXPOSED",
            "MALE_GENITALIA_EXPOSED",
            "FEMALE_BREAST_EXPOSED",
            "ANUS_EXPOSED",
            "BUTTOCKS_EXPOSED",
        ]
    )
    """NudeNet classes that block an output."""
    output_every_s: float = 2.0
    output_max_frames: int = 16
    """Frames scanned: one every `output_every_s`, at most this many, spread over the output."""


class ProvenanceSettings(Base):
    c2pa: bool = True
    """Sign generated MP4/JPEG/PNG outputs with a C2PA manifest marking them AI-generated."""
    cert_chain_file: str = ""
    """PEM chain (signing certificate first) of the C2PA signer; empty: a self-made one in var/c2pa/."""
    private_key_file: str = ""
    """PEM (PKCS#8) ES256 private key of the signing certificate."""
    ta_url: str = ""
    """RFC 3161 timestamp authority; empty: none (this machine may not reach one)."""


class WatermarkSettings(Base):
    trial_text: str = "videoapi trial"
    """Visible watermark forced on every output of trial owners (`videoapi keys policy KEY --trial`)."""
    trial_position: str = "bottom-right"
    trial_opacity: float = 0.7
    embed_generated: bool = True
    """Embed the invisible watermark (the task id) in every generated video."""
    secret: str = ""
    """Key of the invisible watermark; empty: the storage signing secret. Set the same value on every node."""
    detect_max_frames: int = 48
    """Frames read, spread over the video, when detecting."""


class MetricsSettings(Base):
    token: str = ""
    """Bearer token `GET /metrics` requires (`Authorization: Bearer <token>`), on the API port, on the
    `listen` listener and on each worker's `--metrics-port`; empty: none is asked."""
    listen: str = ""
    """`host:port` of a separate listener serving only /metrics (an internal address); set, the API port
    no longer serves /metrics. In production one of `token` or `listen` is required."""
    refresh_s: float = 10.0
    """How often the separate listener's task-table gauges are re-read, in seconds."""

    @property
    def listen_address(self) -> tuple[str, int] | None:
        """`listen` as (host, port); None when it is empty or not host:port."""
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            return None
        return host.strip("[]"), int(port)


class EventSettings(Base):
    """Live task events (`GET /v1/video/tasks/{id}/events`, `GET /v1/video/events`)."""

    backend: Literal["auto", "redis", "table"] = "auto"
    """How task changes reach the API processes that stream them. `redis`: workers and API processes
    publish every change on one pub/sub channel of the Redis of the rate limiter (`gateway.redis_url`, or
    `queue.url` with the Redis broker); `table`: one poller per API process reads the task table, while
    it has streams open; `auto`: `redis` when such a Redis URL is set, else `table`."""
    heartbeat_s: float = 15.0
    """A comment line is sent on an idle stream this often, so proxies and clients keep it open."""
    poll_interval_s: float = 0.5
    """How often the `table` backend's poller reads the changes of the owners whose streams are open."""
    poll_overlap_s: float = 2.0
    """How far behind the newest change seen each poll reads again, so that a transaction committing
    late is not missed (duplicates are dropped by version); the writers' clocks must agree within it."""
    token_ttl_s: float = 300.0
    """Lifetime of a stream token from `POST /v1/video/events/token` (for a browser's EventSource)."""
    token_secret: str = ""
    """HMAC key of stream tokens; empty: derived from the storage signing secret. Every API replica needs
    the same one."""


class LogSettings(Base):
    level: str = "info"
    json: bool | None = None
    """Force JSON (true) or readable (false) logs; default: JSON in production only."""


class Settings(Base):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    queue: QueueSettings = msgspec.field(default_factory=QueueSettings)
    tasks: TaskSettings = msgspec.field(default_factory=TaskSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    limits: LimitSettings = msgspec.field(default_factory=LimitSettings)
    editing: EditSettings = msgspec.field(default_factory=EditSettings)
    outputs: OutputSettings = msgspec.field(default_factory=OutputSettings)
    speech: SpeechSettings = msgspec.field(default_factory=SpeechSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    gateway: GatewaySettings = msgspec.field(default_factory=GatewaySettings)
    retention: RetentionSettings = msgspec.field(default_factory=RetentionSettings)
    watermark: WatermarkSettings = msgspec.field(default_factory=WatermarkSettings)
    provenance: ProvenanceSettings = msgspec.field(default_factory=ProvenanceSettings)
    moderation: ModerationSettings = msgspec.field(default_factory=ModerationSettings)
    billing: BillingSettings = msgspec.field(default_factory=BillingSettings)
    generation: GenerationSettings = msgspec.field(default_factory=GenerationSettings)
    destinations: DestinationSettings = msgspec.field(default_factory=DestinationSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    events: EventSettings = msgspec.field(default_factory=EventSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)

    @property
    def var_path(self) -> Path:
        return Path(self.server.var_dir).resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.var_path / 'videoapi.db'}"

    @property
    def storage_dir(self) -> Path:
        return Path(self.storage.local_dir).resolve() if self.storage.local_dir else self.var_path / "storage"

    @property
    def work_dir(self) -> Path:
        return self.var_path / "work"

    @property
    def rate_limit_redis_url(self) -> str:
        if self.gateway.redis_url:
            return self.gateway.redis_url
        return self.queue.url if self.queue.broker == "redis" else ""

    @property
    def events_redis_url(self) -> str:
        """Redis of the task event channel; empty: the `table` backend."""
        if self.events.backend == "table":
            return ""
        return self.rate_limit_redis_url

    @property
    def moderation_rules_file(self) -> Path:
        if self.moderation.rules_file:
            return Path(self.moderation.rules_file).resolve()
        return CONFIG_DIR / "moderation.toml"

    @property
    def models_file(self) -> Path:
        configured = self.generation.models_file
        return Path(configured).resolve() if configured else CONFIG_DIR / "models.toml"

    @property
    def models_dir(self) -> Path:
        return Path(self.generation.models_dir).resolve() if self.generation.models_dir else self.var_path / "models"

    def time_limit_for(self, kind: str) -> float:
        return self.tasks.time_limit_s.get(kind, self.tasks.default_time_limit_s)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _parse_env_value(raw)
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SettingsError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read and validate settings; raise SettingsError naming the bad field."""
    environ = dict(os.environ) if environ is None else environ
    data: dict[str, Any] = {}
    default_file = CONFIG_DIR / "default.toml"
    if default_file.exists():
        data = _read_toml(default_file)
    if extra := environ.get(f"{ENV_PREFIX}CONFIG"):
        data = _deep_merge(data, _read_toml(Path(extra)))
    data = _deep_merge(data, _env_overrides(environ))
    data = _deep_merge(data, overrides)
    try:
        settings = msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid configuration: {exc}") from exc
    _check(settings)
    return settings


# Values from examples and habits (deploy/k8s/base/secrets.example.yaml says GENERATE_ME).
KNOWN_WEAK_SECRETS = frozenset(
    {
        "changeme", "change-me", "change_me", "secret", "password", "minioadmin", "test", "dev", "development",
        "example", "generate_me", "generate_me_too", "generate-me", "replace-me", "replace_me", "secret_key",
    }
)  # fmt: skip
MIN_SECRET_CHARS = 16


def secret_problems(settings: Settings) -> list[tuple[str, str]]:
    """(problem, fix) for each secret unfit for production: missing where one machine's own would not do,
    a well-known example value, or shorter than `MIN_SECRET_CHARS`."""
    problems = []
    signing = settings.storage.signing_secret
    if not signing and (settings.storage.backend == "local" or not settings.watermark.secret):
        problems.append(
            (
                "storage.signing_secret is empty: each machine generates its own, so download URLs and "
                "watermarks made on one machine are not accepted on another",
                "set storage.signing_secret to the same random value on every machine (`openssl rand -hex 32`)",
            )
        )
    if not settings.destinations.encryption_key:
        problems.append(
            (
                "destinations.encryption_key is empty: destination credentials would be encrypted with a key "
                "derived from the storage signing secret, and lost when that secret is rotated",
                "set destinations.encryption_key to its own random value on every machine (`openssl rand -hex 32`)",
            )
        )
    named = {
        "storage.signing_secret": signing,
        "watermark.secret": settings.watermark.secret,
        "auth.jwt_secret": settings.auth.jwt_secret,
        "storage.s3_secret_key": settings.storage.s3_secret_key if settings.storage.backend == "s3" else "",
        "gateway.webhook_secret": settings.gateway.webhook_secret.removeprefix("whsec_"),
        "events.token_secret": settings.events.token_secret,
        "destinations.encryption_key": settings.destinations.encryption_key,
    }
    for field, value in named.items():
        if not value:
            continue
        if value.strip().lower() in KNOWN_WEAK_SECRETS:
            problems.append((f"{field} is a well-known example value", f"set {field} to a random value"))
        elif len(value) < MIN_SECRET_CHARS and field != "storage.s3_secret_key":
            problems.append(
                (f"{field} is shorter than {MIN_SECRET_CHARS} characters", f"set {field} to `openssl rand -hex 32`")
            )
    return problems


def _check(settings: Settings) -> None:
    problems = []
    if settings.queue.broker != "stub" and not settings.queue.url:
        problems.append(f"queue.url is required with queue.broker = {settings.queue.broker!r}")
    if settings.queue.broker == "stub" and not settings.server.embedded_workers:
        problems.append("queue.broker = 'stub' only works with server.embedded_workers = true")
    if not 1 <= settings.server.worker_idle_poll_ms <= 10_000:
        problems.append("server.worker_idle_poll_ms must be between 1 and 10000")
    if settings.generation.max_batch < 1 or settings.generation.max_loaded_models < 1:
        problems.append("generation.max_batch and generation.max_loaded_models must be at least 1")
    if settings.tasks.heartbeat_s * 3 > settings.tasks.lease_s:
        problems.append("tasks.heartbeat_s must be at most a third of tasks.lease_s")
    if settings.storage.backend == "s3" and not (settings.storage.s3_access_key and settings.storage.s3_secret_key):
        problems.append("storage.s3_access_key and storage.s3_secret_key are required with storage.backend = 's3'")
    for name in ("max_upload_bytes", "max_pixels", "max_width", "max_height"):
        if getattr(settings.limits, name) <= 0:
            problems.append(f"limits.{name} must be positive")
    if settings.gateway.rate_limit_backend == "redis" and not settings.rate_limit_redis_url:
        problems.append("gateway.redis_url is required with gateway.rate_limit_backend = 'redis'")
    for name in ("trusted_proxies",):
        problems.extend(_bad_cidrs(f"server.{name}", getattr(settings.server, name)))
    problems.extend(_bad_cidrs("gateway.webhook_allow_cidrs", settings.gateway.webhook_allow_cidrs))
    problems.extend(_bad_cidrs("destinations.allow_cidrs", settings.destinations.allow_cidrs))
    if settings.metrics.listen and settings.metrics.listen_address is None:
        problems.append(f"metrics.listen: {settings.metrics.listen!r} is not host:port")
    if settings.server.environment == "production" and not (settings.metrics.token or settings.metrics.listen):
        problems.append("metrics.token or metrics.listen is required in production (/metrics is not public)")
    for name in ("webhook_timeout_s", "webhook_max_in_flight", "webhook_max_in_flight_per_owner"):
        if getattr(settings.gateway, name) <= 0:
            problems.append(f"gateway.{name} must be positive")
    if settings.tasks.read_cache and not settings.rate_limit_redis_url:
        problems.append("tasks.read_cache needs gateway.redis_url (or queue.url with the Redis broker)")
    if settings.tasks.read_cache_ttl_s <= 0:
        problems.append("tasks.read_cache_ttl_s must be positive")
    if settings.events.backend == "redis" and not settings.rate_limit_redis_url:
        problems.append("events.backend = 'redis' needs gateway.redis_url (or queue.url with the Redis broker)")
    for name in ("heartbeat_s", "poll_interval_s", "token_ttl_s"):
        if getattr(settings.events, name) <= 0:
            problems.append(f"events.{name} must be positive")
    for name in ("timeout_s", "max_in_flight", "poll_interval_s"):
        if getattr(settings.destinations, name) <= 0:
            problems.append(f"destinations.{name} must be positive")
    if problems:
        raise SettingsError("invalid configuration: " + "; ".join(problems))


def _bad_cidrs(field: str, values: list[str]) -> list[str]:
    import ipaddress

    bad = []
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            bad.append(f"{field}: {value!r} is not a CIDR")
    return bad
