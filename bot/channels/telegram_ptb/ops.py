"""The Bot API calls through python-telegram-bot, its exceptions made neutral (errors.py)."""

from __future__ import annotations

import asyncio
import os
import re
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

# python-telegram-bot 22.2+ warns that durations (RetryAfter.retry_after...) become
# timedeltas in its next major version; opt in now (read below either way).
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import (  # noqa: E402
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    InputMediaVideo,
    KeyboardButton,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from telegram.error import (  # noqa: E402
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest  # noqa: E402
from telegram.warnings import PTBDeprecationWarning  # noqa: E402

from bot.channels.telegram import errors  # noqa: E402
from bot.channels.telegram.delivery import Anchors, Markup, MediaItem  # noqa: E402
from handlers.events import FileRef  # noqa: E402

DOWNLOAD_CONCURRENCY = 4  # HOTLINE_DOWNLOAD_CONCURRENCY's default
SEND_POOL = 64  # connections for sending (the outbox sender's calls, button answers)

PtbMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply

# python-telegram-bot's message for an HTTP error it has no class of its own for:
# "<description> (<status>)" when the body was not JSON, the description otherwise.
_STATUS_SUFFIX = re.compile(r"\((\d{3})\)\s*$")


class StatusRequest(HTTPXRequest):
    """HTTPXRequest that keeps the HTTP status of the answers python-telegram-bot has no
    class for (413, 5xx): their NetworkError ends in "(<status>)", as it already does when
    the body is not JSON, so `neutral` sorts a 413 (permanent) apart from a 5xx."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE or code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            try:
                description = self.parse_json_payload(payload).get("description")
            except TelegramError:
                description = None
            if not description:
                try:
                    description = HTTPStatus(code).phrase
                except ValueError:
                    description = "HTTP error"
            raise NetworkError(f"{description} ({code})")
        return code, payload


def make_bot(token: str, api_url: str, *, pool: int = SEND_POOL) -> Bot:
    """A python-telegram-bot Bot talking to `api_url` ({url}/bot{token}/{method} and
    {url}/file/bot{token}/{path}), with a connection pool of its own."""
    return Bot(
        token,
        base_url=f"{api_url}/bot",
        base_file_url=f"{api_url}/file/bot",
        request=StatusRequest(connection_pool_size=pool, pool_timeout=30.0),
        # Never used (our own receiver polls), but a Bot always has one: keep it small.
        get_updates_request=HTTPXRequest(connection_pool_size=1),
    )


async def close_bot(bot: Bot) -> None:
    """Close both of a Bot's connection pools (`Bot.shutdown` skips a Bot whose identity
    was never fetched)."""
    await bot.shutdown()
    await bot.request.shutdown()  # a no-op when closed


def retry_after_seconds(exc: RetryAfter) -> float:
    """RetryAfter's delay in seconds (an int, or a timedelta with PTB_TIMEDELTA)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def neutral(exc: TelegramError) -> BaseException:
    """The neutral error (bot/channels/telegram/errors.py) for a python-telegram-bot error.

    Its classes: RetryAfter (429), Forbidden (403), InvalidToken (401 and 404), BadRequest
    (400), Conflict (409), TimedOut and NetworkError
    without an HTTP status (no answer); any other HTTP status (413, 5xx) is a NetworkError
    whose message ends in "(<status>)", or carries the description alone.
    """
    message = exc.message
    if isinstance(exc, RetryAfter):
        return errors.TelegramApiError(429, message, retry_after=retry_after_seconds(exc))
    if isinstance(exc, Forbidden):
        return errors.TelegramApiError(403, message)
    if isinstance(exc, InvalidToken):
        # 401 for a well-formed token that is not valid; 404 for a malformed one (or an
        # unknown method: not one of ours).
        return errors.TelegramApiError(401 if "unauthorized" in message.lower() else 404, message)
    if isinstance(exc, ChatMigrated):
        return exc  # as on aiogram: not sorted, retried as unexpected, then given up
    if isinstance(exc, BadRequest):  # before NetworkError: BadRequest is one
        return errors.TelegramApiError(400, message)
    if isinstance(exc, Conflict):
        return errors.TelegramApiError(409, message)
    if isinstance(exc, TimedOut):
        return errors.TelegramNetworkError(f"timed out: {message}")
    if isinstance(exc, NetworkError):
        if isinstance(exc.__cause__, Exception) and exc.__cause__.__module__.startswith("httpx"):
            return errors.TelegramNetworkError(message)  # no answer
        status = _STATUS_SUFFIX.search(message)
        if status is not None:
            return errors.TelegramApiError(int(status.group(1)), message)
        if message.startswith("Unknown error in HTTP implementation"):
            return errors.TelegramNetworkError(message)
        # Another HTTP error status (StatusRequest adds it where it was left out).
        return errors.TelegramApiError(500, message)
    return errors.TelegramApiError(500, message)


@asynccontextmanager
async def neutral_errors() -> AsyncIterator[None]:
    """python-telegram-bot's exceptions as the neutral ones the shared delivery sorts."""
    try:
        yield
    except TelegramError as exc:
        error = neutral(exc)
        if error is exc:
            raise
        raise error from exc


def _markup(markup: Markup | None) -> PtbMarkup | None:
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(b["text"], callback_data=b["callback_data"]) for b in row]
                for row in markup["inline_keyboard"]
            ]
        )
    if "keyboard" in markup:
        return ReplyKeyboardMarkup(
            [
                [
                    KeyboardButton(
                        k["text"],
                        request_location=k.get("request_location"),
                        request_contact=k.get("request_contact"),
                    )
                    for k in row
                ]
                for row in markup["keyboard"]
            ],
            resize_keyboard=markup.get("resize_keyboard"),
            one_time_keyboard=markup.get("one_time_keyboard"),
        )
    if "force_reply" in markup:
        return ForceReply(selective=markup.get("selective"))
    return ReplyKeyboardRemove()


def _anchors(anchors: Anchors) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if anchors.message_thread_id:
        kw["message_thread_id"] = anchors.message_thread_id
    if anchors.reply_to_message_id:
        kw["reply_parameters"] = ReplyParameters(
            anchors.reply_to_message_id, allow_sending_without_reply=True
        )
    return kw


def _timeouts(seconds: float) -> dict[str, Any]:
    # The answer may take `seconds`; an upload's body too.
    return {"read_timeout": seconds, "write_timeout": seconds}


async def _input_file(
    path: str, filename: str | None = None, *, attach: bool = False
) -> InputFile:
    """A local file as an upload (read off the event loop); `attach`: an album's item,
    sent as a part referred to by `attach://<name>`."""
    data = await asyncio.to_thread(Path(path).read_bytes)
    return InputFile(data, filename=filename or Path(path).name, attach=attach)


_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class PtbOps:
    """`TelegramOps` over a python-telegram-bot Bot."""

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
                [BotCommand(c["command"], c["description"]) for c in commands],
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
                **_timeouts(timeout_s),
                **_anchors(anchors),
            )
        return msg.message_id

    async def send_media_group(
        self, chat_id: int, media: list[MediaItem], *, anchors: Anchors, timeout_s: float
    ) -> list[int]:
        """Send an album."""
        items: list[InputMediaPhoto | InputMediaVideo] = []
        for m in media:
            file = await _input_file(m.path, attach=True)
            if m.kind == "photo":
                items.append(InputMediaPhoto(file, caption=m.caption))
            else:
                items.append(InputMediaVideo(file, caption=m.caption))
        async with neutral_errors():
            msgs = await self.bot.send_media_group(
                chat_id, items, **_timeouts(timeout_s), **_anchors(anchors)
            )
        return [m.message_id for m in msgs]

    async def _send_file(
        self,
        method: str,
        chat_id: int,
        file: InputFile,
        caption: str | None,
        anchors: Anchors,
        timeout_s: float,
    ) -> int:
        async with neutral_errors():
            msg = await getattr(self.bot, method)(
                chat_id, file, caption=caption, **_timeouts(timeout_s), **_anchors(anchors)
            )
        return int(msg.message_id)

    async def send_photo(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload a photo."""
        file = await _input_file(path)
        return await self._send_file("send_photo", chat_id, file, caption, anchors, timeout_s)

    async def send_video(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload a video."""
        file = await _input_file(path)
        return await self._send_file("send_video", chat_id, file, caption, anchors, timeout_s)

    async def send_voice(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload a voice note."""
        file = await _input_file(path)
        return await self._send_file("send_voice", chat_id, file, caption, anchors, timeout_s)

    async def send_audio(
        self, chat_id: int, path: str, *, caption: str | None, anchors: Anchors, timeout_s: float
    ) -> int:
        """Upload an audio file."""
        file = await _input_file(path)
        return await self._send_file("send_audio", chat_id, file, caption, anchors, timeout_s)

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
        file = await _input_file(path, filename)
        return await self._send_file("send_document", chat_id, file, caption, anchors, timeout_s)

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
                chat_id, latitude, longitude, **_timeouts(timeout_s), **_anchors(anchors)
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
        markup = _markup(reply_markup)
        assert isinstance(markup, InlineKeyboardMarkup)
        async with neutral_errors():
            await self.bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode="HTML" if html else None,
                reply_markup=markup,
                link_preview_options=_NO_PREVIEW,
                **_timeouts(timeout_s),
            )

    async def create_forum_topic(self, chat_id: int, name: str, *, timeout_s: float) -> int:
        """Create a forum topic."""
        async with neutral_errors():
            topic = await self.bot.create_forum_topic(chat_id, name, **_timeouts(timeout_s))
        return topic.message_thread_id

    async def close_forum_topic(self, chat_id: int, thread_id: int, *, timeout_s: float) -> None:
        """Close a forum topic."""
        async with neutral_errors():
            await self.bot.close_forum_topic(chat_id, thread_id, **_timeouts(timeout_s))

    async def reopen_forum_topic(self, chat_id: int, thread_id: int, *, timeout_s: float) -> None:
        """Reopen a forum topic."""
        async with neutral_errors():
            await self.bot.reopen_forum_topic(chat_id, thread_id, **_timeouts(timeout_s))

    async def answer_callback_query(
        self, query_id: str, *, text: str | None, show_alert: bool
    ) -> None:
        """Answer a button press."""
        async with neutral_errors():
            await self.bot.answer_callback_query(query_id, text=text, show_alert=show_alert)


class PtbFetcher:
    """Downloads files through the Bot API's file endpoint, apart from the sending.

    Downloads (getFile, then the file itself) go through a Bot of their own, with its own
    HTTPX connection pool of `concurrency` connections: a slow file server must never hold
    a connection that a message to someone else waits for. At most `concurrency`
    downloads run at once; the others wait for a slot.
    """

    def __init__(self, token: str, api_url: str, *, concurrency: int = DOWNLOAD_CONCURRENCY):
        self.bot = make_bot(token, api_url, pool=concurrency)
        self._slots = asyncio.Semaphore(concurrency)

    async def fetch(self, ref: FileRef, destination: str) -> None:
        """Write the file to `destination`."""
        async with self._slots:
            async with neutral_errors():
                file = await self.bot.get_file(ref.file_id, read_timeout=60.0)
                await file.download_to_drive(destination, read_timeout=120.0)

    async def close(self) -> None:
        """Close the download connections."""
        await close_bot(self.bot)
