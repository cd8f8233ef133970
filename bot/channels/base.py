"""What every channel runtime provides: the contract the core calls, written once.

The core (handlers/, models/) knows nothing of channels; the runtime around it (the inbox
dispatcher, bot/inbox.py; the outbox sender, bot/outbox.py; the runner, bot/channels/
runner.py) calls only this base, never a concrete channel. A channel is chosen by
configuration (bot/channels/__init__.py) and does five things:

- routes a raw inbound update without any client library (`update_id`, `route`): the
  update's id, the chat whose order it belongs to, the album it is an item of;
- handles inbox items (`handle`): translates them to `Event`s (an album whole) and runs the
  core on them; says sorry for an update given up (`apology`);
- receives (`receiver`: long polling that stores each batch, then confirms it) and, for
  webhooks, tells how a request is authenticated and turned into raw updates (`webhook`);
- delivers an outbox row (`deliver`, `is_group`): renders it to the channel's calls and
  sorts what goes wrong into retry (RetryLater), retry after the channel's delay
  (RetryLater with `rate_limited`), unreachable (PermanentFailure with `unreachable`) or
  give up (PermanentFailure);
- fetches files (`fetcher`), starts (identity, command menu: `start`) and closes (`close`).

Update ids. The inbox keeps each channel's updates under an integer id, orders a chat's
updates by it and recognises redeliveries by it (`inbound_update` is unique on channel and
update_id). A channel whose updates carry no integer id (Zalo: one update per poll, no
offset; webhooks redelivered) numbers them itself in arrival order (a clock-based sequence)
and gives `Route.dedupe_key` what identifies a redelivery (Zalo: event_name and
message_id); until its channel's migration makes the inbox unique on that key, such a
channel must drop a redelivery it has already stored itself.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.inbox import InboxDispatcher, InboxItem
from bot.outbox import Pace, PermanentFailure, RetryLater, Sent
from handlers.events import FileFetcher, Outgoing
from models.tables import Outbox

RawUpdate = dict[str, Any]


@dataclass(frozen=True)
class Route:
    """What the inbox needs to know of a raw update, read without the client library."""

    chat_key: str | None  # the chat whose order it belongs to
    group_key: str | None  # the album it is an item of
    kind: str | None  # the channel's update kind (Telegram: message, callback_query...)
    chat_type: str | None  # the channel's: private, group, supergroup, channel
    language_code: str | None  # the sender's client language
    answered_unlinked: bool  # answered even in a group that is not linked
    has_files: bool = False  # carries files the core downloads before handling it
    dedupe_key: str | None = None  # identifies a redelivery where update ids do not

    def refused(self, linked: frozenset[str]) -> bool:
        """Whether a group that is not linked sent it and nothing about it is answered:
        dropped before it is stored (a flood there costs nothing)."""
        return (
            self.chat_type in ("group", "supergroup")
            and not self.answered_unlinked
            and self.chat_key not in linked
        )


class Receiver(Protocol):
    """A channel's long-polling loop: stores each batch in the inbox, then confirms it."""

    started: asyncio.Event
    stopped: asyncio.Event
    dispatcher: InboxDispatcher | None

    async def run(self) -> None:
        """Receive until stopped."""
        ...

    async def stop(self) -> None:
        """Stop receiving; run() returns soon after."""
        ...


class Webhook(abc.ABC):
    """How a channel's webhook requests become raw updates (for `POST /webhook/<channel>`)."""

    @abc.abstractmethod
    def authentic(self, headers: Mapping[str, str]) -> bool:
        """Whether the request comes from the channel (its secret header, signature...)."""

    @abc.abstractmethod
    def updates(self, body: Any) -> list[RawUpdate]:
        """The raw updates in a request's JSON body (stored in the inbox like a poll's)."""


class Channel(abc.ABC):
    """One messaging channel's runtime, as the core's runtime sees it."""

    name: str  # the `channel` of its events, inbox rows, outbox rows and links
    fetcher: FileFetcher  # downloads the files people send (apart from the sending)
    webhook: Webhook | None = None  # None: this channel only long-polls

    @property
    def channel(self) -> str:
        """The channel's name, as the inbox dispatcher and the outbox sender know it."""
        return self.name

    # ---------------------------------------------------------------- routing (pure)

    @abc.abstractmethod
    def update_id(self, raw: RawUpdate) -> int | None:
        """The update's inbox id (None: unusable, skipped)."""

    @abc.abstractmethod
    def route(self, raw: RawUpdate) -> Route:
        """The routing facts of a raw update."""

    def readable(self, raw: RawUpdate) -> bool:
        """Whether the runtime's client library can read the update (else it is stored as
        already processed, so a redelivery is recognised and nothing waits for it)."""
        return True

    # ---------------------------------------------------------------- the inbox side

    @abc.abstractmethod
    async def handle(self, items: Sequence[InboxItem]) -> bool:
        """Handle one update, or an album's items (see bot.inbox.InboxHandler.handle)."""

    @abc.abstractmethod
    async def apology(self, session: AsyncSession, item: InboxItem) -> Outgoing | None:
        """The message that tells the sender of a given-up update (None: nobody to tell)."""

    # ---------------------------------------------------------------- receiving

    @abc.abstractmethod
    def receiver(self) -> Receiver:
        """The long-polling receiver of this channel."""

    # ---------------------------------------------------------------- delivering

    @abc.abstractmethod
    def is_group(self, chat_id: str) -> bool:
        """Whether the chat is a group (groups have a rate limit of their own)."""

    @abc.abstractmethod
    async def deliver(self, row: Outbox, edit_targets: list[int], pace: Pace) -> Sent:
        """Send one outbox row, each call inside `pace`; raise RetryLater or
        PermanentFailure (see `classify`) when it cannot be delivered now or ever."""

    @abc.abstractmethod
    def classify(
        self, error: BaseException, progress: dict[str, Any] | None = None
    ) -> RetryLater | PermanentFailure | None:
        """What a failed call means for its row: retry, retry after, unreachable, give up
        (None: not a channel error; the sender retries it as unexpected)."""

    # ---------------------------------------------------------------- lifecycle

    @abc.abstractmethod
    async def start(self) -> None:
        """Learn the bot's identity and fill the command menu; before anything is handled."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the channel's connections."""

    # ---------------------------------------------------------------- webhook registration
    # Optional: `hotline webhook set|delete|info --channel <name>` (a deploy step, run once,
    # not by every worker at start). A channel without webhooks leaves them as they are.

    async def set_webhook(self, url: str, secret: str) -> None:
        """Register `url` (HOTLINE_PUBLIC_URL + /webhook/<channel>) with its secret."""
        raise NotImplementedError(f"channel {self.name} cannot register a webhook")

    async def delete_webhook(self) -> None:
        """Remove the registered webhook."""
        raise NotImplementedError(f"channel {self.name} cannot remove a webhook")

    async def webhook_info(self) -> dict[str, Any]:
        """What the channel knows of its webhook (url, pending updates, last error...)."""
        raise NotImplementedError(f"channel {self.name} cannot describe its webhook")
