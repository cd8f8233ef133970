"""The Bot API calls through aiogram, its exceptions made neutral (errors.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    ForceReply,
    FSInputFile,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)

from bot.channels.telegram import errors
from bot.channels.telegram.delivery import Anchors, Markup, MediaItem
from handlers.events import FileRef

DOWNLOAD_CONCURRENCY = 4  # HOTLINE_DOWNLOAD_CONCURRENCY's default

AiogramMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


def make_bot(token: str, api_url: str) -> Bot:
    """An aiogram Bot talking to `api_url` ({url}/bot{token}/{method})."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    return Bot(token=token, session=session)


@asynccontextmanager
async def neutral_errors() -> AsyncIterator[None]:
    """aiogram's exceptions as the neutral ones the shared delivery sorts."""
    try:
        yield
    except TelegramRetryAfter as exc:
        raise errors.TelegramApiError(429, exc.message, retry_after=exc.retry_after) from exc
    except TelegramForbiddenError as exc:
        raise errors.TelegramApiError(403, exc.message) from exc
    except TelegramUnauthorizedError as exc:
        raise errors.TelegramApiError(401, exc.message) from exc
    except TelegramNotFound as exc:
        raise errors.TelegramApiError(404, exc.message) from exc
    except TelegramBadRequest as exc:
        raise errors.TelegramApiError(400, exc.message) from exc
    except TelegramEntityTooLarge as exc:
        raise errors.TelegramApiError(413, exc.message) from exc
    except TelegramServerError as exc:
        raise errors.TelegramApiError(500, exc.message) from exc
    except TelegramNetworkError as exc:
        raise errors.TelegramNetworkError(exc.message) from exc


def _markup(markup: Markup | None) -> AiogramMarkup | None:
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        return InlineKeyboardMarkup.model_validate(markup)
    if "keyboard" in markup:
        return ReplyKeyboardMarkup.model_validate(markup)
    if "force_reply" in markup:
        return ForceReply.model_validate(markup)
    return ReplyKeyboardRemove.model_validate(markup)


def _anchors(anchors: Anchors) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if anchors.message_thread_id:
        kw["message_thread_id"] = anchors.message_thread_id
    if anchors.reply_to_message_id:
        kw["reply_parameters"] = ReplyParameters(
            message_id=anchors.reply_to_message_id, allow_sending_without_reply=True
        )
    return kw


def _timeout(seconds: float) -> int:
    # aiogram annotates request_timeout as int; aiohttp takes any number of seconds.
    return cast(int, seconds)


_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class AiogramOps:
    """`TelegramOps` over an aiogram Bot."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def get_me(self) -> dict[str, Any]:
        """The bot's own user."""
        async with neutral_errors():
            me = await self.bot.get_me()
        return {"id": me.id, "username": me.username}

    async def set_my_commands(
        self,
        commands: list[dict[str, str]],
        *,
        scope: Literal["all_private_chats", "all_group_chats"],
        language_code: str | None,
    ) -> None:
        """Fill the command menu of a scope and language."""
        kind = (
            BotCommandScopeAllPrivateChats()
            if scope == "all_private_chats"
            else BotCommandScopeAllGroupChats()
        )
        async with neutral_errors():
            await self.bot.set_my_commands(
                [BotCommand(command=c["command"], description=c["description"]) for c in commands],
                scope=kind,
                language_code=language_code,
            )

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        html: bool,
        reply_markup: Markup | None,
        anchors: Anchors,
        timeout_s: float,
    ) -> int:
        """Send a text."""
        async with neutral_errors():
            msg = await self.bot.send_message(
                chat_id,
                text,
                parse_mode="HTML" if html else None,
                reply_markup=_markup(reply_markup),
                link_preview_options=_NO_PREVIEW,
                request_timeout=_timeout(timeout_s),
                **_anchors(anchors),
            )
        return msg.message_id

    async def send_media_group(
        self, chat_id: int, media: list[MediaItem], *, anchors: Anchors, timeout_s: float
    ) -> list[int]:
        """Send an album."""
        items: list[InputMediaPhoto | InputMediaVideo] = [
            InputMediaPhoto(media=FSInputFile(m.path), caption=m.caption)
            if m.kind == "photo"
            else InputMediaVideo(media=FSInputFile(m.path), caption=m.caption)
            for m in media
        ]
        async with neutral_errors():
            msgs = await self.bot.send_media_group(
                chat_id,
                items,  # type: ignore[arg-type]
                request_timeout=_timeout(timeout_s),
                **_anchors(anchors),
            )
        return [m.message_id for m in msgs]

    async def _send_file(
        self, method: str, chat_id: int, file: FSInputFile, kw: dict[str, Any]
    ) -> int:
        async with neutral_errors():
            msg = await getattr(self.bot, method)(chat_id, file, **kw)
        return int(msg.message_id)

    @staticmethod
    def _file_kw(caption: str | None, anchors: Anchors, timeout_s: float) -> dict[str, Any]:
        return {"caption": caption, "request_timeout": _timeout(timeout_s), **_anchors(anchors)}

    async def send_photo(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload a photo."""
        kw = self._file_kw(caption, anchors, timeout_s)
        return await self._send_file("send_photo", chat_id, FSInputFile(path), kw)

    async def send_video(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload a video."""
        kw = self._file_kw(caption, anchors, timeout_s)
        return await self._send_file("send_video", chat_id, FSInputFile(path), kw)

    async def send_voice(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload a voice note."""
        kw = self._file_kw(caption, anchors, timeout_s)
        return await self._send_file("send_voice", chat_id, FSInputFile(path), kw)

    async def send_audio(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload an audio file."""
        kw = self._file_kw(caption, anchors, timeout_s)
        return await self._send_file("send_audio", chat_id, FSInputFile(path), kw)

    async def send_document(
        self,
        chat_id: int,
        path: str,
        *,
        filename: str | None = None,
        caption: str | None,
        anchors: Anchors,
        timeout_s: float,
    ) -> int:
        """Upload a document."""
        kw = self._file_kw(caption, anchors, timeout_s)
        file = FSInputFile(path, filename=filename)
        return await self._send_file("send_document", chat_id, file, kw)

    async def send_location(
        self,
        chat_id: int,
        latitude: float,
        longitude: float,
        *,
        anchors: Anchors,
        timeout_s: float,
    ) -> int:
        """Send a map pin."""
        async with neutral_errors():
            msg = await self.bot.send_location(
                chat_id,
                latitude,
                longitude,
                request_timeout=_timeout(timeout_s),
                **_anchors(anchors),
            )
        return msg.message_id

    async def edit_message_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        html: bool,
        reply_markup: Markup,
        timeout_s: float,
    ) -> None:
        """Replace a message's text and inline keyboard."""
        async with neutral_errors():
            await self.bot.edit_message_text(
                text=text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode="HTML" if html else None,
                reply_markup=InlineKeyboardMarkup.model_validate(reply_markup),
                link_preview_options=_NO_PREVIEW,
                request_timeout=_timeout(timeout_s),
            )

    async def create_forum_topic(self, chat_id: int, name: str, *, timeout_s: float) -> int:
        """Create a forum topic."""
        async with neutral_errors():
            topic = await self.bot.create_forum_topic(
                chat_id, name=name, request_timeout=_timeout(timeout_s)
            )
        return topic.message_thread_id

    async def close_forum_topic(self, chat_id: int, thread_id: int, *, timeout_s: float) -> None:
        """Close a forum topic."""
        async with neutral_errors():
            await self.bot.close_forum_topic(
                chat_id, thread_id, request_timeout=_timeout(timeout_s)
            )

    async def reopen_forum_topic(self, chat_id: int, thread_id: int, *, timeout_s: float) -> None:
        """Reopen a forum topic."""
        async with neutral_errors():
            await self.bot.reopen_forum_topic(
                chat_id, thread_id, request_timeout=_timeout(timeout_s)
            )

    async def answer_callback_query(
        self, query_id: str, *, text: str | None, show_alert: bool
    ) -> None:
        """Answer a button press."""
        async with neutral_errors():
            await self.bot.answer_callback_query(query_id, text=text, show_alert=show_alert)


class AiogramFetcher:
    """Downloads files through the Bot API's file endpoint, apart from the sending.

    Downloads (getFile, then the file itself) go through a Bot of their own, with its own
    HTTP session and connection pool: a slow file server must never hold a connection
    that a message to someone else waits for. At most `concurrency` downloads run at
    once; the others wait for a slot (each in its own chat's turn, so other chats go on).
    """

    def __init__(self, bot: Bot, *, concurrency: int = DOWNLOAD_CONCURRENCY) -> None:
        session = AiohttpSession(api=bot.session.api, limit=concurrency)
        self.bot = Bot(token=bot.token, session=session)
        self._slots = asyncio.Semaphore(concurrency)

    async def fetch(self, ref: FileRef, destination: str) -> None:
        """Write the file to `destination`."""
        async with self._slots:
            await self.bot.download(ref.file_id, destination=destination)

    async def close(self) -> None:
        """Close the download connections."""
        await self.bot.session.close()
