"""Message catalogues (gettext .po files read with Babel): Vietnamese first, English too."""

from __future__ import annotations

import functools
import logging
import os
import string
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
SUPPORTED = ("vi", "en")
DEFAULT_LOCALE = "vi"
STRICT_ENV = "HOTLINE_I18N_STRICT"  # "1": a missing parameter raises (set by the test suite)

log = logging.getLogger(__name__)


class MissingMessage(KeyError):
    """A message key that a catalogue lacks."""


class MissingParameter(KeyError):
    """A message was rendered without one of its {placeholders}."""


class _Params(dict[str, object]):
    """The parameters of one message; a name not given is loud in tests, "…" in service.

    In service a person would rather read "…" than a raw "{code}" or lose the whole
    answer to an exception; the key (never the content) is logged so it gets fixed.
    """

    def __init__(self, key: str, params: dict[str, object]) -> None:
        super().__init__(params)
        self.key = key

    def __missing__(self, name: str) -> object:
        if os.environ.get(STRICT_ENV) == "1":
            raise MissingParameter(f"{self.key}: parameter {name!r} not given")
        log.error("message %s rendered without its parameter %s", self.key, name)
        return "…"


@functools.cache
def catalogue(locale: str) -> dict[str, str]:
    """All messages of `locale`, keyed by their symbolic msgid.

    A locale's messages may be split over several .po files (one per area of the product,
    `messages.po` first); a key defined twice is an error, not a silent override.
    """
    folder = LOCALES_DIR / locale / "LC_MESSAGES"
    paths = sorted(folder.glob("*.po"), key=lambda p: (p.name != "messages.po", p.name))
    messages: dict[str, str] = {}
    for path in paths:
        with path.open("rb") as fh:
            cat = read_po(fh, locale=locale)
        for m in cat:
            if not (m.id and m.string):
                continue
            key = str(m.id)
            if key in messages:
                raise ValueError(f"{path.name}: message {key!r} is already defined")
            messages[key] = str(m.string)
    return messages


def t(locale: str | None, key: str, /, **params: object) -> str:
    """The text for `key` in `locale` (falling back to Vietnamese), with params filled in."""
    loc = locale if locale in SUPPORTED else DEFAULT_LOCALE
    messages = catalogue(loc)
    if key not in messages:
        if key not in catalogue(DEFAULT_LOCALE):
            raise MissingMessage(key)
        messages = catalogue(DEFAULT_LOCALE)
    return messages[key].format_map(_Params(key, params))


def placeholders(text: str) -> set[str]:
    """Names of the {placeholders} in a message."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
