"""The Telegram channel, whatever its client library: everything but the library's part.

A runtime (bot/channels/telegram_aiogram/, bot/channels/telegram_ptb/) subclasses
`TelegramChannel` and provides its `TelegramOps`, its file fetcher, whether its library
can read an update, and `feed`: the update (or an album's items) given to its own
dispatcher, whose handlers, filtered per audience, call `on_update` with the raw update.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import services
from bot.channels.base import Channel, RawUpdate, Receiver, Route
from bot.channels.telegram import routing
from bot.channels.telegram.commands import register_commands
from bot.channels.telegram.delivery import TelegramOps, TelegramTransport
from bot.channels.telegram.errors import BotTokenRejected, TelegramApiError, classify
from bot.channels.telegram.polling import TelegramPolling
from bot.channels.telegram.translate import album_event, update_to_event
from bot.db import storage_unavailable
from bot.i18n import t
from bot.inbox import InboxItem
from bot.outbox import Pace, PermanentFailure, RetryLater, Sent
from handlers.context import OFFICER_LOCALE
from handlers.events import Event, Outgoing, Reply
from handlers.language import normalize_locale, reporter_locale
from models.tables import Outbox

if TYPE_CHECKING:
    from bot.app import Hotline

log = logging.getLogger(__name__)

CHANNEL = routing.CHANNEL


@dataclass
class Ticket:
    """Whether the core's transaction closed the inbox rows of the update being fed."""

    closed: bool = False


class TelegramChannel(Channel):
    """The Telegram channel: routing, translation, delivery, polling and the menu, shared;
    the client library's dispatcher and calls, per runtime."""

    name = CHANNEL
    library = ""  # the runtime's name (HOTLINE_TELEGRAM_LIBRARY)

    def __init__(self, hotline: Hotline, token: str, api_url: str) -> None:
        self.hotline = hotline
        self.token = token
        self.api_url = api_url
        self.bot_username = ""
        self.transport = TelegramTransport(self.ops, hotline.media)

    # ---------------------------------------------------------------- the runtime's part

    @property
    @abc.abstractmethod
    def ops(self) -> TelegramOps:
        """The Bot API calls, through the runtime's client library."""

    @abc.abstractmethod
    async def feed(
        self, raws: list[RawUpdate], ticket: Ticket, album: list[RawUpdate] | None
    ) -> None:
        """Give the update (the first of `raws`; an album's items in `album`) to the
        library's dispatcher, whose handlers call `on_update`."""

    # ---------------------------------------------------------------- routing

    def update_id(self, raw: RawUpdate) -> int | None:
        """Telegram's `update_id`."""
        return routing.update_id(raw)

    def route(self, raw: RawUpdate) -> Route:
        """See routing.route_update."""
        return routing.route_update(raw)

    # ---------------------------------------------------------------- the inbox side

    async def handle(self, items: Sequence[InboxItem]) -> bool:
        """Feed one update, or an album's items, to the runtime's handlers.

        Updates the handlers ignore (noise, bots, other bots' commands) and ones that fail
        in the library leave their rows open: the dispatcher closes them. A database
        failure is raised: the dispatcher puts the updates back.
        """
        raws: list[RawUpdate] = []
        for item in items:
            if item.payload is not None and self.readable(item.payload):
                raws.append(item.payload)
            else:
                log.warning("update %s: unreadable, skipped", item.update_id)
        if not raws:
            return False
        ticket = Ticket()
        album = raws if items[0].group_key is not None else None
        try:
            await self.feed(raws, ticket, album)
        except Exception as exc:
            if storage_unavailable(exc):
                raise
            log.exception("update %s: handling failed", raws[0].get("update_id"))
        return ticket.closed and len(raws) == len(items)

    async def on_update(
        self, raw: RawUpdate, ticket: Ticket | None, album: list[RawUpdate] | None = None
    ) -> None:
        """What the runtime's handlers call: translate, run the core, answer a button."""
        event = album_event(album, self.bot_username) if album else None
        if event is None:
            event = update_to_event(raw, self.bot_username)
        reply = await self._process(event, ticket) if event is not None else None
        query = raw.get("callback_query")
        if isinstance(query, dict) and query.get("id") is not None:
            # Always answered, so the client stops its spinner.
            try:
                await self.ops.answer_callback_query(
                    str(query["id"]),
                    text=reply.callback_text if reply else None,
                    show_alert=bool(reply and reply.callback_alert),
                )
            except Exception:  # noqa: BLE001  (an expired query cannot be answered; nothing lost)
                log.debug("could not answer callback query", exc_info=True)

    async def _process(self, event: Event, ticket: Ticket | None) -> Reply | None:
        """Run the core on an event, in its chat's turn; the ticket says it closed the rows."""
        async with self.hotline.chat_turn(CHANNEL, event.chat_id):
            reply = await self.hotline.process(event, self.fetcher)
        if ticket is not None:
            ticket.closed = True  # claimed in the core's transaction, or answered with regret
        return reply

    async def apology(self, session: AsyncSession, item: InboxItem) -> Outgoing | None:
        """The catalogue's apology for a given-up update: to the citizen in their language,
        or to a linked group; nobody else (a group that is not linked hears nothing)."""
        route = self.route(item.payload or {})
        if route.chat_key is None or route.kind == "my_chat_member":
            return None
        if route.chat_type in ("private", None):
            reporter = await services.reporter_of_chat(session, CHANNEL, route.chat_key)
            if reporter is not None:
                locale = reporter_locale(reporter, route.language_code)
            else:
                locale = normalize_locale(route.language_code) or "vi"
        elif await services.link_of_chat(session, CHANNEL, route.chat_key) is not None:
            locale = OFFICER_LOCALE
        else:
            return None
        return Outgoing(chat_id=route.chat_key, text=t(locale, "error.generic"))

    # ---------------------------------------------------------------- receiving

    def receiver(self) -> Receiver:
        """Long polling over raw HTTP (bot/channels/telegram/polling.py)."""
        return TelegramPolling(self.hotline, self, self.token, self.api_url)

    # ---------------------------------------------------------------- delivering

    def is_group(self, chat_id: str) -> bool:
        """Telegram's groups, supergroups and channels have negative ids."""
        return self.transport.is_group(chat_id)

    async def deliver(self, row: Outbox, edit_targets: list[int], pace: Pace) -> Sent:
        """See delivery.TelegramTransport.deliver."""
        return await self.transport.deliver(row, edit_targets, pace)

    def classify(
        self, error: BaseException, progress: dict[str, Any] | None = None
    ) -> RetryLater | PermanentFailure | None:
        """See errors.classify."""
        return classify(error, progress)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Learn the bot's username (commands addressed to it) and fill the command menu.

        A token Telegram refuses stops the start with BotTokenRejected (nothing would work).
        """
        try:
            me = await self.ops.get_me()
        except TelegramApiError as exc:
            if exc.code in (401, 404):
                raise BotTokenRejected(exc.code) from None
            raise
        self.bot_username = str(me.get("username") or "")
        await register_commands(self.ops)
