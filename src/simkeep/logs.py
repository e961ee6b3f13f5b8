"""Structured logs: key-value pairs for people in development, JSON lines in production."""

from __future__ import annotations

import logging
import sys

import structlog

QUIET_LIBRARIES = ("httpx", "httpcore", "pika", "dramatiq")


class _Stderr:
    """The process's standard error as it is when a line is written, not as it was when
    logging was configured: a stream swapped since (a command's output captured, then
    closed) is never written to."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    """Route structlog and the standard library through one renderer."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=_Stderr(), format="%(levelname)s %(name)s %(message)s")
    for chatty in QUIET_LIBRARIES:  # a line per provider call at INFO: noise, and slow
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level)))
