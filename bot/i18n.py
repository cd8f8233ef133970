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
    text = messages[key]
    return text.format(**params) if params else text


def placeholders(text: str) -> set[str]:
    """Names of the {placeholders} in a message."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
