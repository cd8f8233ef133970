"""Delivers outbox rows through the Telegram Bot API (aiogram).

Errors are sorted the way the outbox sender needs them: timeouts, connection errors and 5xx
answers are transient (RetryLater, with backoff); a 429 is transient too and carries
Telegram's retry_after; "bot was blocked by the user", "user is deactivated", "chat not
found" and being kicked from a group mean the chat is out of reach for good
(PermanentFailure(unreachable=True)); other refusals are permanent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, cast

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    ForceReply,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
    KeyboardButton,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)

from bot import failpoints
from bot.media import MediaStore
from bot.outbox import Pace, PermanentFailure, RetryLater, Sent, no_pace
from models.tables import Outbox

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10
# Seconds to wait for Telegram's answer: a text or a pin, and a call that uploads files.
# Both stay well under the outbox claim (60 s), which the sender renews between calls.
REQUEST_TIMEOUT_S = 15.0
UPLOAD_TIMEOUT_S = 45.0
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


def build_markup(payload: dict[str, Any]) -> Markup | None:
    """The one reply markup a Telegram message can carry, by priority."""
    if payload.get("buttons"):
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=b["text"], callback_data=b["data"]) for b in row]
                for row in payload["buttons"]
            ]
        )
    if payload.get("keyboard"):
        return ReplyKeyboardMarkup(
            keyboard=[
                [
                    KeyboardButton(
                        text=k["text"],
                        request_location=k.get("request_location") or None,
                        request_contact=k.get("request_contact") or None,
                    )
                    for k in row
                ]
                for row in payload["keyboard"]
            ],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if payload.get("force_reply"):
        return ForceReply(force_reply=True, selective=False)
    if payload.get("remove_keyboard"):
        return ReplyKeyboardRemove(remove_keyboard=True)
    return None


@dataclass
class _Progress:
    """The calls of one row already made (committed after each call in payload["progress"],
    through `Pace.checkpoint`, so retries and restarts resume after them)."""

    done: int = 0
    message_ids: list[int] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any] | None:
        return {"done": self.done, "message_ids": list(self.message_ids)} if self.done else None


class TelegramTransport:
    """Sends messages, albums, pins and card edits; maps API errors to retry or give up."""

    channel = "telegram"

    def __init__(
        self,
        bot: Bot,
        media: MediaStore,
        *,
        request_timeout: float = REQUEST_TIMEOUT_S,
        upload_timeout: float = UPLOAD_TIMEOUT_S,
    ) -> None:
        self.bot = bot
        self.media = media
        self.request_timeout = request_timeout
        self.upload_timeout = upload_timeout

    def is_group(self, chat_id: str) -> bool:
        """Telegram's groups, supergroups and channels have negative ids."""
        try:
            return int(chat_id) < 0
        except ValueError:
            return False

    async def deliver(self, row: Outbox, edit_targets: list[int], pace: Pace = no_pace) -> Sent:
        """Send one outbox row, each API call inside `pace`."""
        done = (row.payload.get("progress") or {}) if row.kind == "album" else {}
        progress = _Progress(int(done.get("done", 0)), list(done.get("message_ids", [])))
        try:
            return await self._deliver(row, edit_targets, pace, progress)
        except RetryLater as exc:  # from `pace`: the sender stops before this call
            exc.progress = exc.progress or progress.snapshot()
            raise
        except TelegramRetryAfter as exc:
            raise RetryLater(
                f"429 {exc.message}",
                float(exc.retry_after),
                rate_limited=True,
                progress=progress.snapshot(),
            ) from exc
        except TelegramForbiddenError as exc:
            # blocked by the user, user is deactivated, kicked from the group
            raise PermanentFailure(f"403 {exc.message}", unreachable=True) from exc
        except TelegramNotFound as exc:
            raise PermanentFailure(f"404 {exc.message}", unreachable=True) from exc
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message.lower():
                raise PermanentFailure(f"400 {exc.message}", unreachable=True) from exc
            raise PermanentFailure(f"400 {exc.message}") from exc
        except TelegramEntityTooLarge as exc:
            raise PermanentFailure(f"413 {exc.message}") from exc
        except TelegramServerError as exc:
            raise RetryLater(f"5xx {exc.message}", progress=progress.snapshot()) from exc
        except (TelegramNetworkError, TimeoutError, OSError) as exc:
            # A timeout may hide a message Telegram did accept; the Bot API has no
            # idempotency key, so the retry may repeat it (rare; the alternative loses it).
            raise RetryLater(
                f"network: {exc}", progress=progress.snapshot(), maybe_delivered=True
            ) from exc

    def _timeout(self, upload: bool = False) -> int:
        # aiogram annotates request_timeout as int; aiohttp takes any number of seconds.
        return cast(int, self.upload_timeout if upload else self.request_timeout)

    async def _deliver(
        self, row: Outbox, edit_targets: list[int], pace: Pace, progress: _Progress
    ) -> Sent:
        try:
            return await self._deliver_anchored(row, edit_targets, pace, progress, anchored=True)
        except TelegramBadRequest as exc:
            # The case's topic or card is gone (deleted by an admin, topic closed by hand):
            # the message still goes out, in the group's main thread.
            lost = ("thread not found", "topic_closed", "replied not found")
            if _anchors(row.payload) and any(m in exc.message.lower() for m in lost):
                log.info("outbox %s: case anchor gone (%s), sending unanchored", row.id, exc)
                return await self._deliver_anchored(
                    row, edit_targets, pace, progress, anchored=False
                )
            raise

    async def _deliver_anchored(
        self,
        row: Outbox,
        edit_targets: list[int],
        pace: Pace,
        progress: _Progress,
        *,
        anchored: bool,
    ) -> Sent:
        p = row.payload
        chat_id = int(row.chat_id)
        parse_mode = "HTML" if p.get("html") else None
        anchors = _anchors(p) if anchored else {}
        if row.kind == "message":
            async with pace(1):
                msg = await self.bot.send_message(
                    chat_id,
                    p["text"][:TEXT_LIMIT],
                    parse_mode=parse_mode,
                    reply_markup=build_markup(p),
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    request_timeout=self._timeout(),
                    **anchors,
                )
            return Sent([msg.message_id])
        if row.kind == "location":
            async with pace(1):
                msg = await self.bot.send_location(
                    chat_id,
                    p["latitude"],
                    p["longitude"],
                    request_timeout=self._timeout(),
                    **anchors,
                )
            return Sent([msg.message_id])
        if row.kind == "album":
            return Sent(await self._send_album(chat_id, p, pace, progress, anchors))
        if row.kind == "document":
            item = p["media"][0]
            file = FSInputFile(self.media.absolute(item["path"]), filename=item.get("filename"))
            async with pace(1):
                msg = await self.bot.send_document(
                    chat_id,
                    file,
                    caption=(p.get("text") or "")[:CAPTION_LIMIT] or None,
                    request_timeout=self._timeout(upload=True),
                    **anchors,
                )
            return Sent([msg.message_id])
        if row.kind == "topic":
            async with pace(1):
                topic = await self.bot.create_forum_topic(
                    chat_id, name=p["text"][:128], request_timeout=self._timeout()
                )
            return Sent([topic.message_thread_id])
        if row.kind in ("topic_close", "topic_reopen"):
            thread = p.get("message_thread_id")
            if not thread:
                return Sent([])  # the case has no topic in this chat
            call = (
                self.bot.close_forum_topic
                if row.kind == "topic_close"
                else self.bot.reopen_forum_topic
            )
            try:
                async with pace(1):
                    await call(chat_id, thread, request_timeout=self._timeout())
            except TelegramBadRequest as exc:
                if "not_modified" not in exc.message.lower() and "not found" not in (
                    exc.message.lower()
                ):
                    raise
            return Sent([])
        if row.kind == "edit":
            markup = build_markup(p)
            inline = markup if isinstance(markup, InlineKeyboardMarkup) else None
            edited: list[int] = []  # the targets that are (now) this text: ours
            for message_id in edit_targets:
                try:
                    async with pace(1):
                        await self.bot.edit_message_text(
                            text=p["text"][:TEXT_LIMIT],
                            chat_id=chat_id,
                            message_id=message_id,
                            parse_mode=parse_mode,
                            reply_markup=inline or InlineKeyboardMarkup(inline_keyboard=[]),
                            link_preview_options=LinkPreviewOptions(is_disabled=True),
                            request_timeout=self._timeout(),
                        )
                except TelegramBadRequest as exc:
                    text = exc.message.lower()
                    if "not modified" in text:
                        edited.append(message_id)
                        continue
                    # Gone, or not a text of ours (a target may be a suspected copy of a
                    # card that turns out to be someone else's message): skip it.
                    if any(m in text for m in _NOT_OURS):
                        continue
                    raise
                edited.append(message_id)
            return Sent(edited)
        raise PermanentFailure(f"unknown outbox kind {row.kind}")

    async def _send_album(
        self,
        chat_id: int,
        p: dict[str, Any],
        pace: Pace,
        progress: _Progress,
        anchors: dict[str, Any],
    ) -> list[int]:
        """Photos and videos in albums of up to 10, other files one by one.

        Each of these calls is a part; the progress is committed after each part
        (`pace.checkpoint`), so a retry, or a restart after a crash, resumes after the
        parts already delivered: at most the one call in flight is ever repeated.
        """
        caption = (p.get("text") or "")[:CAPTION_LIMIT] or None
        visual = [m for m in p.get("media", []) if m["kind"] in ("photo", "video")]
        other = [m for m in p.get("media", []) if m["kind"] not in ("photo", "video")]
        parts: list[list[dict[str, Any]]] = [
            visual[start : start + ALBUM_LIMIT] for start in range(0, len(visual), ALBUM_LIMIT)
        ]
        parts.extend([item] for item in other)
        timeout = self._timeout(upload=True)
        for index, chunk in enumerate(parts):
            text = caption if index == 0 else None
            if index < progress.done:
                continue
            files = [FSInputFile(self.media.absolute(m["path"])) for m in chunk]
            kind = chunk[0]["kind"]
            async with pace(len(chunk)):
                if len(chunk) > 1:
                    media: list[InputMediaPhoto | InputMediaVideo] = [
                        InputMediaPhoto(media=f, caption=text if i == 0 else None)
                        if m["kind"] == "photo"
                        else InputMediaVideo(media=f, caption=text if i == 0 else None)
                        for i, (m, f) in enumerate(zip(chunk, files, strict=True))
                    ]
                    msgs = await self.bot.send_media_group(
                        chat_id,
                        media,  # type: ignore[arg-type]
                        request_timeout=timeout,
                        **anchors,
                    )
                    ids = [m.message_id for m in msgs]
                else:
                    ids = [await self._send_file(chat_id, kind, files[0], text, anchors)]
            progress.done = index + 1
            progress.message_ids.extend(ids)
            if progress.done < len(parts):
                # Committed before the next call: a crash from here on repeats none of
                # the calls made so far (only a call in flight can be repeated).
                await pace.checkpoint(progress.snapshot() or {})
                failpoints.hit("outbox.between_calls")
        return progress.message_ids

    async def _send_file(
        self,
        chat_id: int,
        kind: str,
        file: FSInputFile,
        caption: str | None,
        anchors: dict[str, Any],
    ) -> int:
        bot = self.bot
        kw: dict[str, Any] = {
            "caption": caption,
            "request_timeout": self._timeout(upload=True),
            **anchors,
        }
        if kind == "photo":
            msg = await bot.send_photo(chat_id, file, **kw)
        elif kind == "video":
            msg = await bot.send_video(chat_id, file, **kw)
        elif kind == "voice":
            msg = await bot.send_voice(chat_id, file, **kw)
        elif kind == "audio":
            msg = await bot.send_audio(chat_id, file, **kw)
        else:
            msg = await bot.send_document(chat_id, file, **kw)
        return msg.message_id


# Edit refusals that mean the target is not (or no longer) a text message of the bot's.
_NOT_OURS = (
    "message to edit not found",
    "message can't be edited",
    "there is no text in the message to edit",
)


def _anchors(p: dict[str, Any]) -> dict[str, Any]:
    """Where in a group a message goes: its case's forum topic, as a reply to its card.

    The outbox sender resolves both from the database just before delivery
    (`message_thread_id`, `reply_to_message_id` in the payload it hands over).
    """
    anchors: dict[str, Any] = {}
    if p.get("message_thread_id"):
        anchors["message_thread_id"] = int(p["message_thread_id"])
    if p.get("reply_to_message_id"):
        anchors["reply_parameters"] = ReplyParameters(
            message_id=int(p["reply_to_message_id"]), allow_sending_without_reply=True
        )
    return anchors
