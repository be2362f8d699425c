"""Logging setup: stdlib logging, one logger per module, and no credential ever reaches a log line."""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any
from urllib.parse import unquote_plus

_SECRET_NAMES = frozenset({"stream_token", "token", "access_token"})
# Any query parameter: its name (possibly percent-encoded) and value, up to the next separator.
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;\s\"?#]+)=(?P<value>[^&;\s\"#]*)")


def _redact_param(match: re.Match[str]) -> str:
    # The name is compared decoded and lowercased, so `?stream_tok%65n=` or `?TOKEN=` are masked too.
    if unquote_plus(match["name"]).strip().lower() in _SECRET_NAMES:
        return f"{match['lead']}{match['name']}=***"
    return match.group(0)


def redact(text: str) -> str:
    return _QUERY_PARAM.sub(_redact_param, text)


class RedactSecretsFilter(logging.Filter):
    """Masks token-like query parameters in every spelling (uvicorn's access log prints full request lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
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
