"""Logging set-up: our records carry ids, never what people wrote, their names or numbers.

Two formats: plain text lines (the default) and, with HOTLINE_LOG_FORMAT=json, one JSON
object per line for log collectors. Records may carry ids through ``extra=``: ``case`` (the
case code), ``update`` (the channel's update id) and ``chat`` (a group chat id); both formats
show them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

# Loggers of libraries that put user data into records at some level: aiosqlite logs every
# SQL statement with its parameters at DEBUG, aiogram logs updates at INFO, httpx the bot
# token in each URL at INFO, python-telegram-bot every call at DEBUG, SQLAlchemy's
# engine logs parameters and result rows when echoing. They are held above those levels
# whatever the configured level is: by their level, and by a filter on the logger itself
# that still drops such records if something lowers the level again (a library's own set-up,
# or an operator setting every logger to DEBUG while debugging).
_QUIET = {
    "aiosqlite": logging.INFO,
    "aiogram.event": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.engine.Engine": logging.WARNING,  # where the engine actually logs
    "asyncpg": logging.INFO,
    # python-telegram-bot's runtime: httpx logs every request's URL, which holds the bot
    # token, at INFO; python-telegram-bot's Bot logs every call's parameters and result
    # (people's messages) at DEBUG.
    "httpx": logging.WARNING,
    "telegram": logging.INFO,
    "telegram.Bot": logging.INFO,
    "telegram.ext.ExtBot": logging.INFO,
    "telegram.ext.Application": logging.INFO,
    "telegram.BaseRequest": logging.INFO,
    "telegram.HTTPXRequest": logging.INFO,
}

# The ids a record may carry via `extra=`, in the order they are shown.
EXTRA_KEYS = ("case", "update", "chat")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: getattr(record, key) for key in EXTRA_KEYS if getattr(record, key, None) is not None
    }


class TextFormatter(logging.Formatter):
    """The classic one-line format, with the record's ids appended as key=value."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extras = _extras(record)
        if extras:
            line += " [" + " ".join(f"{k}={v}" for k, v in extras.items()) + "]"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO-8601, UTC), level, logger, message, ids."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        data: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        # default=str: an id given as some other type still makes a valid line.
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(
    level: str = "INFO", fmt: str = "text", *, stream: IO[str] | None = None
) -> logging.Handler:
    """Log to `stream` (stderr) at `level`, as text or JSON lines, libraries kept quiet.

    Calling it again replaces the handler it installed before (not other handlers).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_hotline", False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._hotline = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.getLevelNamesMapping().get(level.upper(), logging.INFO))
    quiet_user_data_loggers()
    return handler


class _Floor(logging.Filter):
    """Drops the records of one logger below a level, whatever the logger's level says."""

    def __init__(self, floor: int) -> None:
        super().__init__()
        self.floor = floor

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.floor


def quiet_user_data_loggers() -> None:
    """Raise the levels of library loggers that would otherwise log user data."""
    for name, floor in _QUIET.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(floor, logger.getEffectiveLevel()))
        if not any(isinstance(f, _Floor) for f in logger.filters):
            logger.addFilter(_Floor(floor))
