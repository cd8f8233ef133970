"""python-telegram-bot's part of the Telegram channel: an `Application` without its Updater,
handlers per audience, fed with `application.process_update`; each handler passes the raw
update to the shared translator.

Our own receiver (bot/channels/telegram/polling.py) stores every update before Telegram
forgets it, so the Application never polls: it is built with `updater(None)` and only
initialised (its Bot learns its identity), never started. No ConversationHandler and no
persistence: a conversation's state is in the hotline's database, written in the same
transaction as what the citizen typed.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram import Message, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.base import RawUpdate
from bot.channels.telegram.channel import TelegramChannel, Ticket
from bot.channels.telegram_ptb.ops import PtbFetcher, PtbOps, close_bot, make_bot, neutral_errors

if TYPE_CHECKING:
    from bot.app import Hotline

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE


@dataclass
class _Feeding:
    """The update being fed: its raw dict, its ticket, its album, what went wrong."""

    raw: RawUpdate
    ticket: Ticket
    album: list[RawUpdate] | None
    error: BaseException | None = None


# process_update awaits the (blocking) handlers in the caller's task, so they see this.
_feeding: contextvars.ContextVar[_Feeding] = contextvars.ContextVar("ptb_feeding")


class _NotAlbumItem(filters.MessageFilter):
    """Messages that are not an item of an album (an edited album item is not handled)."""

    def filter(self, message: Message) -> bool:
        return message.media_group_id is None


class PtbChannel(TelegramChannel):
    """The Telegram channel on python-telegram-bot: an Application with one handler per
    audience (citizens, officer groups, membership changes)."""

    library = "ptb"
    fetcher: PtbFetcher

    def __init__(self, hotline: Hotline, token: str, api_url: str) -> None:
        self.bot = make_bot(token, api_url)
        self._ops = PtbOps(self.bot)
        super().__init__(hotline, token, api_url)
        self.fetcher = PtbFetcher(
            token, api_url, concurrency=hotline.settings.download_concurrency
        )
        self.application = self.build_application()

    @property
    def ops(self) -> PtbOps:
        """The Bot API calls through python-telegram-bot."""
        return self._ops

    def build_application(self) -> Application[Any, Any, Any, Any, Any, Any]:
        """An Application (no Updater, no persistence, no job queue) with the handlers."""
        app = ApplicationBuilder().bot(self.bot).updater(None).job_queue(None).build()
        private, groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & private, self.on_message))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & groups, self.on_message))
        # Edits of earlier messages, in private chats only: the citizen hears that edits do
        # not count. An edited album item is not handled (so not mistaken for new photos).
        app.add_handler(
            MessageHandler(
                filters.UpdateType.EDITED_MESSAGE & private & _NotAlbumItem(), self.on_message
            )
        )
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(ChatMemberHandler(self.on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_error_handler(self.on_error)
        return app

    def readable(self, raw: RawUpdate) -> bool:
        """Whether python-telegram-bot's classes accept the update."""
        try:
            Update.de_json(raw, self.bot)
        except Exception:  # noqa: BLE001  (any shape it cannot read)
            return False
        return True

    async def feed(
        self, raws: list[RawUpdate], ticket: Ticket, album: list[RawUpdate] | None
    ) -> None:
        """`application.process_update` with the first update; the handlers get the raw
        dicts. What a handler raised is raised here (the inbox dispatcher puts the update
        back when the database failed)."""
        feeding = _Feeding(raws[0], ticket, album)
        token = _feeding.set(feeding)
        try:
            await self.application.process_update(Update.de_json(raws[0], self.bot))
        finally:
            _feeding.reset(token)
            self._forget_seen_chats()
        if feeding.error is not None:
            raise feeding.error

    def _forget_seen_chats(self) -> None:
        """Without persistence, the Application still notes every chat and user id it sees
        for its next persistence flush, which never comes: forget them, so a bot that runs
        for months keeps no record of everyone in memory."""
        for name in (
            "_chat_ids_to_be_updated_in_persistence",
            "_user_ids_to_be_updated_in_persistence",
        ):
            seen = getattr(self.application, name, None)
            if isinstance(seen, set):
                seen.clear()

    async def on_message(self, _update: Update, _context: Context) -> None:
        """A message from a citizen or an officer group (or an album, whole)."""
        feeding = _feeding.get()
        await self.on_update(feeding.raw, feeding.ticket, feeding.album)

    async def on_button(self, update: Update, _context: Context) -> None:
        """A button press in a private chat or a group; always answered so the client
        stops its spinner."""
        query = update.callback_query
        message = query.message if query is not None else None
        if message is None or message.chat.type not in ("private", "group", "supergroup"):
            return
        feeding = _feeding.get()
        await self.on_update(feeding.raw, feeding.ticket)

    async def on_membership(self, _update: Update, _context: Context) -> None:
        """The bot was added to or removed from a group."""
        feeding = _feeding.get()
        await self.on_update(feeding.raw, feeding.ticket)

    async def on_error(self, _update: object, context: Context) -> None:
        """A handler failed: kept for `feed` to raise."""
        feeding = _feeding.get(None)
        if feeding is not None and feeding.error is None:
            feeding.error = context.error

    async def start(self) -> None:
        """Initialise the Application (its Bot learns its identity), then the shared
        start: the bot's username and the command menu."""
        await super().start()
        async with neutral_errors():
            await self.application.initialize()

    async def close(self) -> None:
        """Close the download and the sending connections."""
        await self.fetcher.close()
        await self.application.shutdown()  # a no-op when never initialised
        await close_bot(self.bot)
