"""Prometheus metrics shared by the API and the workers.

Task counts by status, queue depths and ages are read from the database at scrape time by the
API only (the task table is the source of truth); durations, counters and busy time are observed
in the process that does the work, so each worker process exposes its own /metrics (see
`videoapi worker --metrics-port`). Host readings (disk, GPU) come from the collectors of
`videoapi.observability.collectors`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector

from videoapi import __version__

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_resident_memory_bytes, process_cpu_seconds_total, open fds
PlatformCollector(registry=REGISTRY)  # python_info

BUILD_INFO = Gauge(
    "videoapi_build_info", "Always 1; the version label says which build runs", ["version"], registry=REGISTRY
)
BUILD_INFO.labels(__version__).set(1)

HTTP_REQUESTS = Counter(
    "videoapi_http_requests_total",
    "HTTP requests by method, route template and status code",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "videoapi_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    registry=REGISTRY,
)
TASKS = Gauge(
    "videoapi_tasks",
    "Queued and running tasks by kind and status, read from the task table at scrape time",
    ["kind", "status"],
    registry=REGISTRY,
)
TASKS_FINISHED = Counter(
    "videoapi_tasks_finished_total",
    "Task attempts that ended in this process, by kind and outcome",
    ["kind", "status"],
    registry=REGISTRY,
)
TASK_RUN_SECONDS = Histogram(
    "videoapi_task_run_seconds",
    "Run time of one task attempt, by kind and outcome",
    ["kind", "status"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
TASK_QUEUE_WAIT_SECONDS = Histogram(
    "videoapi_task_queue_wait_seconds",
    "Time from creation to the first claim, by kind",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
TASK_RETRIES = Counter(
    "videoapi_task_retries_total",
    "Tasks put back in the queue, by kind and reason (transient error, lease expired)",
    ["kind", "reason"],
    registry=REGISTRY,
)
TASK_LATENCY_SECONDS = Histogram(
    "videoapi_task_latency_seconds",
    "End to end: from creation to the end of the task, by kind and final status (observed by the worker)",
    ["kind", "status"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
    registry=REGISTRY,
)

# ---- read from the task table at scrape time (API only) -------------------------------------

QUEUE_DEPTH = Gauge(
    "videoapi_queue_depth",
    "Queued tasks ready to run now (not_before reached), by queue and priority",
    ["queue", "priority"],
    registry=REGISTRY,
)
QUEUE_DELAYED = Gauge(
    "videoapi_queue_delayed",
    "Queued tasks waiting for a retry backoff, by queue and priority",
    ["queue", "priority"],
    registry=REGISTRY,
)
QUEUE_OLDEST_AGE_SECONDS = Gauge(
    "videoapi_queue_oldest_age_seconds",
    "Age (now - created_at) of the oldest ready task, by queue and priority; 0 when none is ready",
    ["queue", "priority"],
    registry=REGISTRY,
)
TASKS_RUNNING = Gauge("videoapi_tasks_running", "Tasks running now (leased), by queue", ["queue"], registry=REGISTRY)

# ---- workers --------------------------------------------------------------------------------

WORKER_THREADS = Gauge(
    "videoapi_worker_threads",
    "Worker threads of this process, labelled with the queues they drain (comma-separated)",
    ["queues"],
    registry=REGISTRY,
)
WORKER_BUSY_SECONDS = Counter(
    "videoapi_worker_busy_seconds_total",
    "Thread time spent running tasks or batches, by queue; rate() / videoapi_worker_threads = busy ratio",
    ["queue"],
    registry=REGISTRY,
)
WORKER_BUSY = Gauge("videoapi_worker_busy", "Tasks running now in this process, by queue", ["queue"], registry=REGISTRY)

# ---- webhooks, moderation, models -----------------------------------------------------------

WEBHOOK_DELIVERIES = Counter(
    "videoapi_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered, failed (will retry), exhausted (gave up), "
    "disabled (the endpoint answered 410 Gone)",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "videoapi_webhook_delivery_seconds",
    "Duration of one webhook HTTP attempt, until the answer or the error",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
MODERATION_BLOCKS = Counter(
    "videoapi_moderation_blocks_total",
    "Content blocked by moderation, by stage (prompt: request text refused; transcript: transcribed speech "
    "about to be drawn as captions failed its task; output: a scanned output failed its task) and category",
    ["stage", "category"],
    registry=REGISTRY,
)
MODEL_CACHE_REQUESTS = Counter(
    "videoapi_model_cache_requests_total",
    "Pipeline lookups in the model cache, by model and result (hit, miss)",
    ["model", "result"],
    registry=REGISTRY,
)
MODEL_LOAD_SECONDS = Histogram(
    "videoapi_model_load_seconds",
    "Time to load a model pipeline into memory (a cache miss), by model",
    ["model"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
MODEL_CACHE_LOADED = Gauge(
    "videoapi_model_cache_loaded", "1 while the model is resident in this process's cache", ["model"], registry=REGISTRY
)

HARDWARE_ENCODER_USABLE = Gauge(
    "videoapi_hardware_encoder_usable",
    "1 when this worker's start-up probe encoded frames with the hardware encoder, else 0",
    ["encoder"],
    registry=REGISTRY,
)
ENCODER_FALLBACKS = Counter(
    "videoapi_encoder_fallbacks_total",
    "Outputs asked with encoder auto that were encoded in software, by reason "
    "(no_hardware, codec_not_supported, not_probed)",
    ["reason"],
    registry=REGISTRY,
)
