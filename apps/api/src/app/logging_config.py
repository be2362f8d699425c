"""Logging setup: stdlib logging, one logger per module, and no credential ever reaches a log line."""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any

_SECRET_QUERY = re.compile(r"((?:stream_token|token|access_token)=)[^&\s\"]+", re.IGNORECASE)


class RedactSecretsFilter(logging.Filter):
    """Masks token-like query parameters (uvicorn's access log prints full request lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_SECRET_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1***", record.msg)
        return True


def logging_config(level: str = "INFO") -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecretsFilter}},
        "formatters": {"default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["redact"]},
        },
        "loggers": {
            "app": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["console"], "level": "WARNING"},
    }


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(level))
