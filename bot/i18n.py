"""Message catalogues (gettext .po files read with Babel): Vietnamese first, English too."""

from __future__ import annotations

import functools
import string
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
SUPPORTED = ("vi", "en")
DEFAULT_LOCALE = "vi"


class MissingMessage(KeyError):
    """A message key that a catalogue lacks."""


@functools.cache
def catalogue(locale: str) -> dict[str, str]:
    """All messages of `locale`, keyed by their symbolic msgid."""
    path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        cat = read_po(fh, locale=locale)
    return {str(m.id): str(m.string) for m in cat if m.id and m.string}


def t(locale: str | None, key: str, /, **params: object) -> str:
    """The text for `key` in `locale` (falling back to Vietnamese), with params filled in."""
    loc = locale if locale in SUPPORTED else DEFAULT_LOCALE
    messages = catalogue(loc)
    if key not in messages:
        if key not in catalogue(DEFAULT_LOCALE):
            raise MissingMessage(key)
        messages = catalogue(DEFAULT_LOCALE)
    text = messages[key]
    return text.format(**params) if params else text


def placeholders(text: str) -> set[str]:
    """Names of the {placeholders} in a message."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
