"""aiogram's part of the Telegram channel: routers per audience, filtered once, fed with
`dp.feed_update`; each handler passes the raw update to the shared translator."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiogram import Dispatcher, F, Router
from aiogram.types import Update
from pydantic import ValidationError

from bot.channels.base import RawUpdate
from bot.channels.telegram.channel import TelegramChannel, Ticket
from bot.channels.telegram_aiogram.ops import AiogramFetcher, AiogramOps, make_bot

if TYPE_CHECKING:
    from bot.app import Hotline

log = logging.getLogger(__name__)


class AiogramChannel(TelegramChannel):
    """The Telegram channel on aiogram: one Router per audience, joined in one Dispatcher."""

    library = "aiogram"
    fetcher: AiogramFetcher

    def __init__(self, hotline: Hotline, token: str, api_url: str) -> None:
        self.bot = make_bot(token, api_url)
        self._ops = AiogramOps(self.bot)
        super().__init__(hotline, token, api_url)
        self.fetcher = AiogramFetcher(self.bot, concurrency=hotline.settings.download_concurrency)
        self.dispatcher = self.build_dispatcher()

    @property
    def ops(self) -> AiogramOps:
        """The Bot API calls through aiogram."""
        return self._ops

    def build_dispatcher(self) -> Dispatcher:
        """A dispatcher with the private, group and membership routers."""
        private = Router(name="citizens")
        private.message.filter(F.chat.type == "private")
        private.callback_query.filter(F.message.chat.type == "private")
        groups = Router(name="officers")
        groups.message.filter(F.chat.type.in_({"group", "supergroup"}))
        groups.callback_query.filter(F.message.chat.type.in_({"group", "supergroup"}))
        for router in (private, groups):
            router.message.register(self.on_message)
            router.callback_query.register(self.on_button)
        # Edits of earlier messages, in private chats only: the citizen hears that edits do
        # not count. An edited album item is not handled (so not mistaken for new photos).
        private.edited_message.filter(F.chat.type == "private")
        private.edited_message.register(self.on_message, F.media_group_id.is_(None))
        membership = Router(name="membership")
        membership.my_chat_member.register(self.on_membership)
        # The hotline keeps conversation state in its own table: no FSM storage, which
        # would also keep a record of every chat ever seen in memory.
        dp = Dispatcher(disable_fsm=True)
        dp.include_routers(private, groups, membership)
        return dp

    def readable(self, raw: RawUpdate) -> bool:
        """Whether aiogram's models accept the update."""
        try:
            Update.model_validate(raw, context={"bot": self.bot})
        except ValidationError:
            return False
        return True

    async def feed(
        self, raws: list[RawUpdate], ticket: Ticket, album: list[RawUpdate] | None
    ) -> None:
        """`dp.feed_update` with the first update; the handlers get the raw dicts."""
        update = Update.model_validate(raws[0], context={"bot": self.bot})
        await self.dispatcher.feed_update(
            self.bot, update, raw=raws[0], inbox_ticket=ticket, album=album
        )

    async def on_message(
        self, _: Any, raw: RawUpdate, inbox_ticket: Ticket, album: list[RawUpdate] | None
    ) -> None:
        """A message from a citizen or an officer group (or an album, whole)."""
        await self.on_update(raw, inbox_ticket, album)

    async def on_button(self, _: Any, raw: RawUpdate, inbox_ticket: Ticket) -> None:
        """A button press; always answered so the client stops its spinner."""
        await self.on_update(raw, inbox_ticket)

    async def on_membership(self, _: Any, raw: RawUpdate, inbox_ticket: Ticket) -> None:
        """The bot was added to or removed from a group."""
        await self.on_update(raw, inbox_ticket)

    async def close(self) -> None:
        """Close the download and the sending connections."""
        await self.fetcher.close()
        await self.bot.session.close()
