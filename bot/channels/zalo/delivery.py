"""How an outbox row becomes Zalo Bot API calls.

Zalo has texts of 1 to 2,000 characters, photos by URL, stickers and "typing": no buttons,
no keyboards, no replies, no edits, no files, no map pins. So:

- buttons and keyboards become a numbered menu appended to the text and kept for the chat
  (bot/channels/zalo/menus.py); a ForceReply question becomes a plain text whose answer is
  the chat's next text;
- HTML is reduced to plain text; a text longer than 2,000 characters is split at sentence
  boundaries (else at line breaks, else at spaces) into several messages;
- photos go by URL when the row has one (`url` in a media item); local files cannot be
  sent by URL, so a note from the catalogue says how many there were (and where the public
  results are, when the public site is set);
- a map pin becomes a text with the coordinates and a map link; a document, a note;
- edits and forum topics have no meaning on Zalo and are skipped (sent, with no message).

A row of several calls commits its progress after each call (`Pace.checkpoint`), so a retry
or a restart resumes after the parts already delivered. Sent message ids are the row's id
times 64 plus the part's index: integers of our own, since Zalo's are strings; the
first one is what a tracked question is remembered by.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot import failpoints
from bot.channels.zalo import menus
from bot.channels.zalo.client import (
    ZaloApiError,
    ZaloBadRequest,
    ZaloClient,
    ZaloForbidden,
    ZaloNetworkError,
    ZaloNotFound,
    ZaloRateLimited,
    ZaloServerError,
    ZaloTimeout,
    ZaloUnauthorized,
)
from bot.i18n import t
from bot.outbox import Pace, PermanentFailure, RetryLater, Sent
from models.tables import Outbox

log = logging.getLogger(__name__)

TEXT_LIMIT = 2000
IDS_PER_ROW = 64
RATE_LIMIT_BASE_S = 2.0
RATE_LIMIT_MAX_S = 120.0

_TAG_RE = re.compile(r"<[^>]+>")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+")


def plain(text: str) -> str:
    """HTML reduced to what a Zalo text shows (tags dropped, entities decoded)."""
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.IGNORECASE)
    return html.unescape(_TAG_RE.sub("", text))


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at sentence ends where possible, else at
    line breaks, else at spaces, else anywhere; no piece is empty."""
    text = text.strip()
    if not text:
        return []
    pieces: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = -1
        for match in _SENTENCE_END_RE.finditer(window):
            if match.start() <= limit:
                cut = match.start()
        if cut <= 0:
            cut = window.rfind("\n")
        if cut <= 0:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return [p for p in pieces if p]


def rate_limit_delay(attempts: int) -> float:
    """Seconds to wait after a 429 (none are published): 2, 4, 8 … 120."""
    return float(min(RATE_LIMIT_MAX_S, RATE_LIMIT_BASE_S * 2 ** max(attempts, 0)))


def classify(
    error: BaseException, progress: dict[str, Any] | None = None, attempts: int = 0
) -> RetryLater | PermanentFailure | None:
    """What a failed call means for its row (None: not a Zalo error)."""
    if isinstance(error, ZaloRateLimited):
        return RetryLater(
            f"429 {error.description}",
            rate_limit_delay(attempts),
            rate_limited=True,
            progress=progress,
        )
    if isinstance(error, (ZaloForbidden, ZaloNotFound)):
        return PermanentFailure(f"{error.error_code} {error.description}", unreachable=True)
    if isinstance(error, ZaloUnauthorized):
        # The whole channel is stopped (ZaloChannel.unauthorized); the row waits for a fix.
        return RetryLater(f"401 {error.description}", 300.0, progress=progress)
    if isinstance(error, (ZaloServerError, ZaloTimeout)):
        return RetryLater(f"{error.error_code} {error.description}", progress=progress)
    if isinstance(error, ZaloBadRequest):
        return PermanentFailure(f"400 {error.description}")
    if isinstance(error, ZaloApiError):
        return PermanentFailure(f"{error.error_code} {error.description}")
    if isinstance(error, (ZaloNetworkError, TimeoutError, OSError)):
        return RetryLater(f"network: {error}", progress=progress, maybe_delivered=True)
    return None


@dataclass
class Part:
    """One call of a row: a text, or a photo by URL."""

    text: str
    photo_url: str | None = None


class ZaloDelivery:
    """Renders outbox rows to Zalo calls; `menu_store` keeps each chat's menu."""

    def __init__(
        self,
        client: ZaloClient,
        *,
        locale_of: Callable[[str], Awaitable[str]],
        menu_store: Callable[[str, list[menus.Option], int | None], Awaitable[None]],
        case_link: Callable[[int], Awaitable[str | None]],
        on_unauthorized: Callable[[], None],
    ) -> None:
        self.client = client
        self.locale_of = locale_of
        self.menu_store = menu_store
        self.case_link = case_link
        self.on_unauthorized = on_unauthorized

    async def parts(self, row: Outbox, locale: str) -> tuple[list[Part], list[menus.Option]]:
        """The calls a row becomes, and the menu it offers."""
        p = row.payload
        text = str(p.get("text") or "")
        if p.get("html"):
            text = plain(text)
        if row.kind in ("edit", "topic", "topic_close", "topic_reopen"):
            return [], []
        if row.kind == "location":
            lat, lon = p.get("latitude"), p.get("longitude")
            note = t(locale, "zalo.location", latitude=lat, longitude=lon)
            return [Part(piece) for piece in split_text(note)], []
        options, notes = menus.options_of(p)
        parts: list[Part] = []
        if row.kind in ("album", "document"):
            urls = [m.get("url") for m in p.get("media") or [] if m.get("url")]
            local = [m for m in p.get("media") or [] if not m.get("url")]
            for index, url in enumerate(urls):
                caption = text[:TEXT_LIMIT] if index == 0 and text else None
                parts.append(Part(caption or "", str(url)))
            if local:
                key = "zalo.photos_not_sent"
                if row.kind == "document":
                    key = "zalo.document_not_sent"
                note = t(locale, key, count=len(local))
                link = await self.case_link(row.case_id) if row.case_id is not None else None
                if link:
                    note = f"{note}\n{t(locale, 'zalo.photos_link', url=link)}"
                lead = f"{text}\n\n" if text and not urls else ""
                parts.extend(Part(piece) for piece in split_text(lead + note))
            return parts, options
        menu = menus.render(locale, options, notes)
        if p.get("force_reply"):
            menu = "\n\n".join(filter(None, [menu, t(locale, "zalo.answer_next")]))
        body = "\n\n".join(filter(None, [text.strip(), menu]))
        parts.extend(Part(piece) for piece in split_text(body))
        return parts, options

    async def deliver(self, row: Outbox, pace: Pace) -> Sent:
        """Send a row's parts in order, each inside `pace`; resumes after its progress."""
        assert row.id is not None
        locale = await self.locale_of(row.chat_id)
        parts, options = await self.parts(row, locale)
        done = int((row.payload.get("progress") or {}).get("done", 0))
        ids = [row.id * IDS_PER_ROW + i for i in range(min(len(parts), IDS_PER_ROW))]
        question = ids[0] if row.payload.get("force_reply") and ids else None
        if row.kind not in ("edit", "topic", "topic_close", "topic_reopen", "location"):
            # Before the text goes out, so a quick answer is read against this menu.
            await self.menu_store(row.chat_id, options, question)
        for index, part in enumerate(parts):
            if index < done:
                continue
            try:
                async with pace(1):
                    failpoints.hit("zalo.before_send")
                    if part.photo_url:
                        await self.client.send_photo(
                            row.chat_id, part.photo_url, part.text or None
                        )
                    else:
                        await self.client.send_message(row.chat_id, part.text)
            except (ZaloApiError, ZaloNetworkError, TimeoutError, OSError) as exc:
                if isinstance(exc, ZaloUnauthorized):
                    self.on_unauthorized()
                outcome = classify(exc, {"done": index}, row.attempts)
                if outcome is None:
                    raise
                raise outcome from exc
            if index + 1 < len(parts):
                await pace.checkpoint({"done": index + 1})
        return Sent(ids)
