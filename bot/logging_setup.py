"""Structured JSON logs (structlog), with the standard library's and Bolt's logs routed through it.

One processor redacts every rendered event with the triage redactor, so a secret that reaches a log
call by accident (an exception text with a URL password, a pasted token) is still not written out.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

_configured = False


def _redactor() -> Callable[[str], str]:
    try:
        from bot.domain.triage import redact
    except ImportError:  # triage not importable: fall back to no-op rather than lose logs
        return lambda text: text
    return lambda text: redact(text).text


def _redact_strings(redact: Callable[[str], str]) -> Callable[..., MutableMapping[str, Any]]:
    def processor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event_dict.items()):
            if isinstance(value, str) and value:
                event_dict[key] = redact(value)
        return event_dict

    return processor


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Idempotent: the CLI and the server both call it once at start-up."""
    global _configured
    if _configured:
        return
    _configured = True
    redact = _redactor()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),  # stdlib ``extra={...}`` fields become JSON keys
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact_strings(redact),
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared, processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                                              renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs full request URLs at INFO (they can carry tokens in query strings): keep it quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
