"""Delivers outbox rows through the Telegram Bot API (aiogram)."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
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
)

from bot.media import MediaStore
from bot.outbox import PermanentFailure, RetryLater, Sent
from models.tables import Outbox

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10
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


class TelegramTransport:
    """Sends messages, albums, pins and card edits; maps API errors to retry or give up."""

    channel = "telegram"

    def __init__(self, bot: Bot, media: MediaStore) -> None:
        self.bot = bot
        self.media = media

    async def deliver(self, row: Outbox, edit_targets: list[int]) -> Sent:
        """Send one outbox row."""
        try:
            return await self._deliver(row, edit_targets)
        except TelegramRetryAfter as exc:
            raise RetryLater("429 Too Many Requests", float(exc.retry_after)) from exc
        except TelegramForbiddenError as exc:
            raise PermanentFailure(f"403 {exc.message}", unreachable=True) from exc
        except TelegramNotFound as exc:
            raise PermanentFailure(f"404 {exc.message}", unreachable=True) from exc
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message.lower():
                raise PermanentFailure(f"400 {exc.message}", unreachable=True) from exc
            raise PermanentFailure(f"400 {exc.message}") from exc
        except TelegramServerError as exc:
            raise RetryLater(f"server error: {exc.message}") from exc
        except (TelegramNetworkError, TimeoutError, OSError) as exc:
            raise RetryLater(f"network: {exc}") from exc

    async def _deliver(self, row: Outbox, edit_targets: list[int]) -> Sent:
        p = row.payload
        chat_id = int(row.chat_id)
        parse_mode = "HTML" if p.get("html") else None
        if row.kind == "message":
            msg = await self.bot.send_message(
                chat_id,
                p["text"][:TEXT_LIMIT],
                parse_mode=parse_mode,
                reply_markup=build_markup(p),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
            return Sent([msg.message_id])
        if row.kind == "location":
            msg = await self.bot.send_location(chat_id, p["latitude"], p["longitude"])
            return Sent([msg.message_id])
        if row.kind == "album":
            return Sent(await self._send_album(chat_id, p))
        if row.kind == "edit":
            markup = build_markup(p)
            inline = markup if isinstance(markup, InlineKeyboardMarkup) else None
            for message_id in edit_targets:
                try:
                    await self.bot.edit_message_text(
                        text=p["text"][:TEXT_LIMIT],
                        chat_id=chat_id,
                        message_id=message_id,
                        parse_mode=parse_mode,
                        reply_markup=inline or InlineKeyboardMarkup(inline_keyboard=[]),
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                    )
                except TelegramBadRequest as exc:
                    text = exc.message.lower()
                    if "not modified" in text or "message to edit not found" in text:
                        continue
                    raise
            return Sent(list(edit_targets))
        raise PermanentFailure(f"unknown outbox kind {row.kind}")

    async def _send_album(self, chat_id: int, p: dict[str, Any]) -> list[int]:
        caption = (p.get("text") or "")[:CAPTION_LIMIT] or None
        visual = [m for m in p.get("media", []) if m["kind"] in ("photo", "video")]
        other = [m for m in p.get("media", []) if m["kind"] not in ("photo", "video")]
        ids: list[int] = []
        for start in range(0, len(visual), ALBUM_LIMIT):
            chunk = visual[start : start + ALBUM_LIMIT]
            files = [FSInputFile(self.media.absolute(m["path"])) for m in chunk]
            if len(chunk) == 1:
                if chunk[0]["kind"] == "photo":
                    msg = await self.bot.send_photo(chat_id, files[0], caption=caption)
                else:
                    msg = await self.bot.send_video(chat_id, files[0], caption=caption)
                ids.append(msg.message_id)
            else:
                media: list[InputMediaPhoto | InputMediaVideo] = [
                    InputMediaPhoto(media=f, caption=caption if i == 0 else None)
                    if m["kind"] == "photo"
                    else InputMediaVideo(media=f, caption=caption if i == 0 else None)
                    for i, (m, f) in enumerate(zip(chunk, files, strict=True))
                ]
                msgs = await self.bot.send_media_group(chat_id, media)  # type: ignore[arg-type]
                ids.extend(m.message_id for m in msgs)
            caption = None
        for item in other:
            file = FSInputFile(self.media.absolute(item["path"]))
            if item["kind"] == "voice":
                msg = await self.bot.send_voice(chat_id, file, caption=caption)
            elif item["kind"] == "audio":
                msg = await self.bot.send_audio(chat_id, file, caption=caption)
            else:
                msg = await self.bot.send_document(chat_id, file, caption=caption)
            ids.append(msg.message_id)
            caption = None
        return ids
