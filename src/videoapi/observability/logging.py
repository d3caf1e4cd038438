"""structlog setup: JSON lines in production, readable console output in development.

Request and task handlers bind `request_id` / `task_id` with structlog's contextvars, so every
line logged while handling them carries the id.
"""

from __future__ import annotations

import logging
import sys

import structlog

from videoapi.settings import Settings


class CurrentStderr:
    """Whatever `sys.stderr` is when a line is written, not when logging was configured: a process
    whose stderr is swapped (a test runner's capture, a daemon redirect) keeps logging to the live one."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(settings: Settings) -> None:
    as_json = settings.log.json if settings.log.json is not None else settings.server.environment == "production"
    level = logging.getLevelName(settings.log.level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer] if as_json else [*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    # Render stdlib records (uvicorn, dramatiq, alembic) the same way, so production is all JSON.
    handler = logging.StreamHandler(CurrentStderr())  # type: ignore[arg-type]
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for noisy in ("sqlalchemy.engine", "httpx", "httpcore", "pika"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
