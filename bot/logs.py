"""Logging set-up: our records carry ids, never what people wrote, their names or numbers."""

from __future__ import annotations

import logging

# Loggers of libraries that put user data into records at some level: aiosqlite logs every
# SQL statement with its parameters at DEBUG, aiogram logs updates at INFO, SQLAlchemy's
# engine logs parameters when echoing. They are held above those levels whatever the
# configured level is.
_QUIET = {
    "aiosqlite": logging.INFO,
    "aiogram.event": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "asyncpg": logging.INFO,
}


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr at `level`, with the user-data-carrying libraries kept quiet."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_user_data_loggers()


def quiet_user_data_loggers() -> None:
    """Raise the levels of library loggers that would otherwise log user data."""
    for name, floor in _QUIET.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(floor, logger.getEffectiveLevel()))
