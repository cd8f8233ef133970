"""The Zalo channel: routing, translation, numbered menus, delivery, polling and webhook.

Citizens report from Zalo; officers stay on Telegram (Zalo groups are still in internal
testing). The core is the same: this channel adapts what Zalo lacks (buttons, replies,
locations, update ids) around it. See bot/channels/zalo/__init__.py for the whole map.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import services
from bot.channels.base import Channel, RawUpdate, Receiver, Route, Webhook
from bot.channels.zalo import menus, routing
from bot.channels.zalo.client import ZaloClient, ZaloTokenRejected, ZaloUnauthorized
from bot.channels.zalo.delivery import ZaloDelivery, classify
from bot.channels.zalo.polling import ZaloPolling
from bot.channels.zalo.routing import CHANNEL, event_of
from bot.channels.zalo.translate import COMMAND_DATA_PREFIX, Translation, translate
from bot.db import session_scope, storage_unavailable
from bot.i18n import t
from bot.inbox import InboxItem
from bot.outbox import Pace, PermanentFailure, RetryLater, Sent
from handlers.events import Button, FileRef, KeyButton, Outgoing
from models.tables import Case, Outbox, WardContact

if TYPE_CHECKING:
    from bot.app import Hotline

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60.0
# The citizens' commands of the help menu ("menu"), in order.
MENU_COMMANDS = ("report", "mycases", "cancel", "help", "lang")


class ZaloFetcher:
    """Downloads the photos citizens send, by their URL (which expires: at once)."""

    def __init__(self, max_bytes: int, concurrency: int = 4) -> None:
        self.max_bytes = max_bytes
        self._http: aiohttp.ClientSession | None = None
        self._limit = concurrency

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            connector = aiohttp.TCPConnector(limit=self._limit)
            self._http = aiohttp.ClientSession(connector=connector)
        return self._http

    async def fetch(self, ref: FileRef, destination: str) -> None:
        """Write the image at `ref.file_id` (its URL) to `destination`."""
        url = ref.file_id
        if not url.startswith(("https://", "http://")):
            raise ValueError("not an image URL")
        timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_S)
        data = bytearray()
        async with self._session().get(url, timeout=timeout) as response:
            response.raise_for_status()
            async for chunk in response.content.iter_chunked(1 << 16):
                data.extend(chunk)
                if len(data) > self.max_bytes:
                    # One byte over the limit is enough: the store refuses it as too large.
                    del data[self.max_bytes + 1 :]
                    break
        await asyncio.to_thread(Path(destination).write_bytes, bytes(data))

    async def close(self) -> None:
        """Close the download connections."""
        if self._http is not None and not self._http.closed:
            await self._http.close()


class ZaloWebhook(Webhook):
    """`POST /webhook/zalo`: authentic when X-Bot-Api-Secret-Token is the configured
    secret (compared in constant time); the body is one event, wrapped or bare."""

    HEADER = "X-Bot-Api-Secret-Token"

    def __init__(self, secret: str | None) -> None:
        self.secret = secret or ""

    def authentic(self, headers: Mapping[str, str]) -> bool:
        """Whether the secret header matches (never without a configured secret)."""
        if not self.secret:
            return False
        given = headers.get(self.HEADER)
        if given is None:
            given = next((v for k, v in headers.items() if k.lower() == self.HEADER.lower()), "")
        return hmac.compare_digest(given.encode(), self.secret.encode())

    def updates(self, body: Any) -> list[RawUpdate]:
        """The request's event (a list of events is accepted too)."""
        items = body if isinstance(body, list) else [body]
        return [item for item in items if event_of(item) is not None]


class ZaloChannel(Channel):
    """The Zalo channel over our own thin client (bot/channels/zalo/client.py)."""

    name = CHANNEL

    def __init__(
        self, hotline: Hotline, token: str, api_url: str, webhook_secret: str | None = None
    ) -> None:
        self.hotline = hotline
        self.client = ZaloClient(token, api_url)
        settings = hotline.settings
        self.fetcher: ZaloFetcher = ZaloFetcher(
            settings.max_file_mb * 1024 * 1024, settings.download_concurrency
        )
        self.zalo_webhook = ZaloWebhook(webhook_secret)
        # Without a secret there is no webhook (`hotline serve` then long-polls Zalo).
        self.webhook = self.zalo_webhook if webhook_secret else None
        self.unauthorized = False
        self.bot_name = ""
        self.delivery = ZaloDelivery(
            self.client,
            locale_of=self._locale_of_chat,
            menu_store=self._store_menu,
            case_link=self._case_link,
            on_unauthorized=self.refused_token,
        )
        self._receiver: ZaloPolling | None = None
        self._background: set[asyncio.Task[None]] = set()

    # ---------------------------------------------------------------- routing

    def update_id(self, raw: RawUpdate) -> int | None:
        """An id of our own (Zalo updates have none): see routing.update_id."""
        return routing.update_id(raw)

    def route(self, raw: RawUpdate) -> Route:
        """See routing.route_update."""
        return routing.route_update(raw)

    # ---------------------------------------------------------------- the inbox side

    async def handle(self, items: Sequence[InboxItem]) -> bool:
        """Translate one stored update and run the core on it (or answer it ourselves)."""
        item = items[0]
        raw = item.payload
        if raw is None:
            return False
        route = self.route(raw)
        if route.chat_key is None:
            return False
        try:
            async with self.hotline.chat_turn(CHANNEL, route.chat_key):
                async with self.hotline.sessionmaker() as session:
                    menu = await menus.load(session, route.chat_key)
                    options = menus.as_options(menu)
                    pending = menu.reply_to if menu is not None else None
                tr = translate(raw, item.update_id, options=options, pending_question=pending)
                if tr.own is not None:
                    await self._answer_own(tr, item, route.chat_key, raw, options)
                    return True
                if tr.event is None:
                    return False
                if tr.event.files:
                    # Downloading a photo takes a moment: show "typing..." meanwhile.
                    self._typing(route.chat_key)
                before = await self._last_row(route.chat_key) if tr.event.kind == "button" else 0
                reply = await self.hotline.process(tr.event, self.fetcher)
                if (
                    tr.event.kind == "button"
                    and reply is not None
                    and reply.callback_text
                    and await self._last_row(route.chat_key) == before
                ):
                    # Telegram shows a button's answer as a toast; Zalo has none. When the
                    # core said nothing else, the answer goes as a message: never silence.
                    await self._tell(route.chat_key, reply.callback_text)
                if tr.answers is not None:
                    async with session_scope(self.hotline.sessionmaker) as session:
                        await menus.answered(session, route.chat_key, tr.answers)
        except Exception as exc:
            if storage_unavailable(exc):
                raise
            log.exception("zalo update %s: handling failed", item.update_id)
            return False
        return True

    def _typing(self, chat_id: str) -> None:
        async def show() -> None:
            try:
                await self.client.send_chat_action(chat_id, "typing")
            except Exception:  # noqa: BLE001  (a courtesy: nothing depends on it)
                log.debug("zalo: could not show typing", exc_info=True)

        task = asyncio.ensure_future(show())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _last_row(self, chat_id: str) -> int:
        """The newest outbox row of the chat (0: none)."""
        async with self.hotline.sessionmaker() as session:
            stmt = select(func.max(Outbox.id)).where(
                col(Outbox.channel) == CHANNEL, col(Outbox.chat_id) == chat_id
            )
            return int((await session.exec(stmt)).one() or 0)

    async def _tell(self, chat_id: str, text: str) -> None:
        async with session_scope(self.hotline.sessionmaker) as session:
            await services.enqueue(session, CHANNEL, Outgoing(chat_id=chat_id, text=text))
        self.hotline.sender.wake()

    async def _locale(self, session: AsyncSession, chat_id: str) -> str:
        reporter = await services.reporter_of_chat(session, CHANNEL, chat_id)
        return (reporter.language if reporter is not None else None) or "vi"

    async def _answer_own(
        self,
        tr: Translation,
        item: InboxItem,
        chat_id: str,
        raw: RawUpdate,
        options: list[menus.Option],
    ) -> None:
        """What the channel answers itself, in the update's own transaction (once)."""
        async with session_scope(self.hotline.sessionmaker) as session:
            if not await services.claim_update(session, CHANNEL, item.update_id):
                return  # a redelivery: answered already
            locale = await self._locale(session, chat_id)
            if tr.own == "menu":
                out = Outgoing(
                    chat_id=chat_id,
                    text=t(locale, "zalo.help_menu"),
                    buttons=[
                        [Button(t(locale, f"cmd.{c}"), f"{COMMAND_DATA_PREFIX}{c}")]
                        for c in MENU_COMMANDS
                    ],
                )
            elif tr.own == "out_of_range" and tr.out_of_range is not None:
                # The same options again, so the menu stays what the person sees.
                text = t(
                    locale,
                    "zalo.menu_out_of_range",
                    number=tr.out_of_range.number,
                    count=tr.out_of_range.count,
                )
                if all(o.data for o in options):
                    out = Outgoing(
                        chat_id=chat_id,
                        text=text,
                        buttons=[[Button(o.label, o.data or "")] for o in options],
                    )
                else:
                    out = Outgoing(
                        chat_id=chat_id,
                        text=text,
                        keyboard=[[KeyButton(o.label)] for o in options],
                    )
            else:  # hidden: the platform protects this person; give them the hotline
                text = await self._contacts_text(session, locale, chat_id)
                out = Outgoing(chat_id=chat_id, text=text)
            await services.enqueue(session, CHANNEL, out)
        self.hotline.sender.wake()

    async def _contacts_text(self, session: AsyncSession, locale: str, chat_id: str) -> str:
        """The hotline's contact points for someone Zalo hides: the ward of their latest
        case when they have one, else the province's (the province code's row), else the
        public page that lists every ward's."""
        contact: WardContact | None = None
        reporter = await services.reporter_of_chat(session, CHANNEL, chat_id)
        if reporter is not None:
            stmt = (
                select(Case)
                .where(col(Case.reporter_id) == reporter.id)
                .order_by(col(Case.id).desc())
                .limit(1)
            )
            case = (await session.exec(stmt)).first()
            if case is not None:
                contact = await session.get(WardContact, case.ward_code)
        if contact is None:
            contact = await session.get(WardContact, self.hotline.deps.province_code)
        if contact is not None and (contact.receive_phone or contact.receive_email):
            return t(
                locale,
                "zalo.hidden_contacts",
                phone=contact.receive_phone or "-",
                email=contact.receive_email or "-",
            )
        if self.hotline.settings.public_url:
            return t(locale, "zalo.hidden_contacts_page", url=self.hotline.settings.public_url)
        return t(locale, "zalo.hidden_no_contacts")

    async def apology(self, session: AsyncSession, item: InboxItem) -> Outgoing | None:
        """The catalogue's apology for a given-up update, in the citizen's language."""
        route = self.route(item.payload or {})
        if route.chat_key is None or route.chat_type != "private":
            return None
        locale = await self._locale(session, route.chat_key)
        return Outgoing(chat_id=route.chat_key, text=t(locale, "error.generic"))

    # ---------------------------------------------------------------- receiving

    def receiver(self) -> Receiver:
        """Long polling (bot/channels/zalo/polling.py)."""
        self._receiver = ZaloPolling(self.hotline, self, self.client)
        return self._receiver

    def refused_token(self) -> None:
        """The token was refused (401): the channel stops, and says so once."""
        if not self.unauthorized:
            self.unauthorized = True
            log.error(
                "zalo: the bot token was refused (401): the Zalo channel stops; check "
                "HOTLINE_ZALO_BOT_TOKEN and restart (other channels go on)"
            )
        if self._receiver is not None:
            self._receiver.halt()

    # ---------------------------------------------------------------- delivering

    def is_group(self, chat_id: str) -> bool:
        """Zalo chats of ours are private."""
        return False

    async def deliver(self, row: Outbox, edit_targets: list[int], pace: Pace) -> Sent:
        """See delivery.ZaloDelivery."""
        if self.unauthorized:
            raise RetryLater("zalo channel stopped: bot token refused (401)", 300.0)
        return await self.delivery.deliver(row, pace)

    def classify(
        self, error: BaseException, progress: dict[str, Any] | None = None
    ) -> RetryLater | PermanentFailure | None:
        """See delivery.classify."""
        return classify(error, progress)

    async def _locale_of_chat(self, chat_id: str) -> str:
        async with self.hotline.sessionmaker() as session:
            return await self._locale(session, chat_id)

    async def _store_menu(
        self, chat_id: str, options: list[menus.Option], question: int | None
    ) -> None:
        async with session_scope(self.hotline.sessionmaker) as session:
            await menus.offer(session, chat_id, options, question=question)

    async def _case_link(self, case_id: int) -> str | None:
        base = self.hotline.settings.public_url
        if not base:
            return None
        async with self.hotline.sessionmaker() as session:
            case = await session.get(Case, case_id)
        if case is None or not case.result_public:
            return None
        return f"{base}/results/{case.code}"

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Learn the bot's name. A token Zalo refuses stops the start with
        ZaloTokenRejected, naming the setting (a token refused later, while running,
        stops this channel only: `refused_token`)."""
        try:
            me = await self.client.get_me()
        except ZaloUnauthorized:
            raise ZaloTokenRejected(401) from None
        self.bot_name = str(me.get("account_name") or me.get("display_name") or "")
        log.info("zalo: connected")

    async def close(self) -> None:
        """Release the connections."""
        await self.client.close()
        await self.fetcher.close()

    # ---------------------------------------------------------------- webhook management

    async def set_webhook(self, url: str, secret: str | None = None) -> Any:
        """Have Zalo POST updates to `url` (with the configured secret by default)."""
        secret = secret or self.zalo_webhook.secret
        if not secret or not 8 <= len(secret) <= 256:
            raise ValueError("HOTLINE_ZALO_WEBHOOK_SECRET must be 8 to 256 characters")
        return await self.client.set_webhook(url, secret)

    async def delete_webhook(self) -> Any:
        """Back to long polling."""
        return await self.client.delete_webhook()

    async def webhook_info(self) -> dict[str, Any]:
        """The webhook as Zalo knows it."""
        return await self.client.get_webhook_info()
