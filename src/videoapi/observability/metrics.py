"""Prometheus metrics shared by the API and the workers.

Task counts by status are read from the database at scrape time (the task table is the source of
truth); durations and request counts are observed in the process that does the work, so each
worker process exposes its own /metrics (see `videoapi worker --metrics-port`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

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
    "Tasks in the database by kind and status (read at scrape time)",
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
