"""The contract every channel runtime passes (bot/channels/base.py), written once.

Each test takes a `kit`: a runtime with its fake server, built by a `ChannelKit` factory
in KITS. A kit starts the channel's fake server (real HTTP on 127.0.0.1), builds the
channel over a real hotline core, makes raw inbound updates the way the server delivers
them (each also queued at the fake), and reads back what the bot did at the fake. The
tests know nothing of the channel's client library or wire format.

What is checked, on every runtime: routing of raw updates (update id, chat, album, files,
refusal of groups that are not linked); `handle` turning updates into Events and the
core's answers into outbox rows (an album whole, a button answered); `deliver` of every
outbox kind the channel supports (texts with each kind of keyboard, pins, albums with
their files, documents, card edits, topics) against the fake; each failure sorted by
`classify` into retry, retry after the channel's delay, unreachable or give up, through the
real client library; the file fetcher (and that a stuck download does not hold up
sending); the receiver storing a batch in the inbox; a database failure while handling reaching
the dispatcher; start (identity, command menu) and
close; a rejected token stopping the start clearly; the apology for a given-up update.

To add a runtime (Zalo, issue 12): write `class ZaloKit(ChannelKit)` implementing the
abstract methods below over bot/fakes/zalo/, and say what the channel has: `group` (None
when officers are not on it), `outbox_kinds`, `albums`, the `outcomes` its API's
failures can mean (`fail_next_send` makes each happen; retry, unreachable and give up at
least), the commands of its menus, `token_rejected`; `None` from `unreadable` when every
JSON object is readable. Then add one line to KITS: `"zalo": ZaloKit`. Every test here
then runs on it too (test ids end in `[zalo]`); what it lacks is skipped, nothing else.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlmodel import select

from bot import db, services
from bot.app import Hotline
from bot.channels.base import Channel, RawUpdate
from bot.channels.telegram.errors import BotTokenRejected
from bot.db import storage_unavailable
from bot.fakes.telegram import FakeBotAPI, FakeChat, FakeUser, tiny_png
from bot.i18n import t
from bot.inbox import InboxItem
from bot.outbox import PermanentFailure, RetryLater, no_pace
from handlers.events import FileRef
from models.tables import InboundUpdate, Outbox
from tests.conftest import make_settings, migrate
from tests.harness import Person, advance_to

# What a failed call means for its row (base.Channel.classify).
Outcome = Literal["retry", "retry_after", "unreachable", "give_up", "no_answer"]
OUTCOMES: tuple[Outcome, ...] = ("retry", "retry_after", "unreachable", "give_up", "no_answer")
RETRY_AFTER_S = 7  # the delay a kit's fake asks for in a "retry_after" failure


class ChannelKit(abc.ABC):
    """A channel runtime and its fake server, as the contract tests drive them."""

    # The ids of the people in the tests, as the channel's chat keys (Route.chat_key).
    citizen: str
    group: str | None = None  # a group chat (officers; `is_group`); None: the channel has none
    # The outbox kinds the channel delivers (bot/outbox.py; "message" at least).
    outbox_kinds: frozenset[str] = frozenset({"message"})
    albums: bool = True  # people can send several photos as one album
    outcomes: tuple[Outcome, ...] = OUTCOMES  # what its API's failures can mean
    # Commands that must be in the menu for citizens, and (with a group) for officers.
    citizen_commands: frozenset[str] = frozenset({"report"})
    group_commands: frozenset[str] = frozenset()
    # What `start` raises for a token the server rejects, and the setting it names.
    token_rejected: type[Exception]
    token_setting: str

    @abc.abstractmethod
    def server(self) -> AbstractAsyncContextManager[Any]:
        """The channel's fake server, running while the context is open."""

    @abc.abstractmethod
    def make_channel(self, hotline: Hotline, *, token: str | None = None) -> Channel:
        """The runtime over `hotline`, talking to the fake (`token`: another token)."""

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """Settings the hotline needs for this channel (its token, its server's URL)."""

    # ---------------------------------------------------------------- inbound (raw)

    @abc.abstractmethod
    def text(self, chat: str, text: str) -> RawUpdate:
        """A person writes `text` (a command if it starts with "/") in `chat`."""

    @abc.abstractmethod
    def photo(self, chat: str, data: bytes, *, album: str | None = None) -> RawUpdate:
        """A person sends a photo, an album's item when `album` is given."""

    @abc.abstractmethod
    def press(self, chat: str, data: str) -> RawUpdate:
        """A person presses the button with `data` on the bot's latest message having it."""

    @abc.abstractmethod
    def unreadable(self) -> RawUpdate | None:
        """An update the client library cannot read (None: there is no such thing)."""

    # ---------------------------------------------------------------- what the bot did

    @abc.abstractmethod
    def texts(self, chat: str) -> list[str]:
        """The texts and captions the bot has sent to `chat`, in order."""

    @abc.abstractmethod
    def kinds(self, chat: str) -> list[str]:
        """What the bot's messages in `chat` are: text, photo, video, document, location."""

    @abc.abstractmethod
    def buttons(self, chat: str) -> list[str]:
        """The button data on the bot's latest message in `chat` that has buttons."""

    @abc.abstractmethod
    def buttons_answered(self) -> int:
        """How many button presses the bot answered at the server (0 where presses need
        no answer: return the number of presses handled)."""

    @abc.abstractmethod
    def menu(self) -> dict[str, list[str]]:
        """The command menu the bot set: commands by scope (and language)."""

    # ---------------------------------------------------------------- faults and files

    @abc.abstractmethod
    def fail_next_send(self, outcome: Outcome) -> None:
        """Make the next message send fail so that it means `outcome`."""

    @abc.abstractmethod
    def file(self, data: bytes) -> FileRef:
        """A file a person sent, as the core asks the fetcher for it."""

    @abc.abstractmethod
    def hold_downloads(self, held: bool) -> None:
        """Make file downloads hang (a slow file server) or let them through."""


class TelegramKit(ChannelKit):
    """The Telegram channel on one client library, over the fake Bot API."""

    citizen = "1001"
    group = "-1001"
    group_commands = frozenset({"link"})
    token_rejected = BotTokenRejected
    token_setting = "HOTLINE_BOT_TOKEN"
    outbox_kinds = frozenset(
        ("message", "location", "album", "document", "edit")
        + ("topic", "topic_close", "topic_reopen")
    )

    def __init__(self, library: str) -> None:
        self.library = library
        self.api: FakeBotAPI | None = None
        self.users = {self.citizen: FakeUser(id=1001, first_name="Lan", language_code="vi")}
        self.officer = FakeUser(id=2001, first_name="Minh", language_code="vi")
        self.chat = FakeChat(id=-1001, type="supergroup", title="Kỳ Lừa", is_forum=True)

    @property
    def fake(self) -> FakeBotAPI:
        assert self.api is not None, "the fake Bot API is not running"
        return self.api

    def server(self) -> AbstractAsyncContextManager[Any]:
        kit = self

        class _Running:
            async def __aenter__(self) -> FakeBotAPI:
                kit.api = await FakeBotAPI().__aenter__()
                return kit.api

            async def __aexit__(self, *exc: object) -> None:
                await kit.fake.__aexit__(None, None, None)

        return _Running()

    def make_channel(self, hotline: Hotline, *, token: str | None = None) -> Channel:
        from bot.channels import telegram_channel

        return telegram_channel(
            hotline, token or self.fake.token, self.fake.base_url, self.library
        )

    def settings(self) -> dict[str, Any]:
        return {"bot_token": self.fake.token, "telegram_api_url": self.fake.base_url}

    def _who(self, chat: str) -> tuple[FakeUser, FakeChat | None]:
        if chat == self.group:
            return self.officer, self.chat
        return self.users[chat], None

    def text(self, chat: str, text: str) -> RawUpdate:
        user, group = self._who(chat)
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            return self.fake.send_command(user, name, args, chat=group)
        return self.fake.send_text(user, text, chat=group)

    def photo(self, chat: str, data: bytes, *, album: str | None = None) -> RawUpdate:
        user, group = self._who(chat)
        return self.fake.send_photo(user, data, chat=group, media_group_id=album)

    def press(self, chat: str, data: str) -> RawUpdate:
        user, group = self._who(chat)
        message = next(
            m
            for m in reversed(self.fake.chat_messages(int(chat)))
            if any(b.get("callback_data") == data for b in self.fake.inline_buttons(m))
        )
        return self.fake.press_button(user, message, data, chat=group)

    def unreadable(self) -> RawUpdate | None:
        user = self.users[self.citizen]
        return self.fake.push_update(
            {
                "message": {
                    "message_id": 1,
                    "date": "not a date",
                    "chat": {"id": user.id, "type": "private"},
                    "from": user.to_dict(),
                    "text": "hello",
                }
            }
        )

    def _bot_messages(self, chat: str) -> list[dict[str, Any]]:
        return [m for m in self.fake.chat_messages(int(chat)) if m.get("from", {}).get("is_bot")]

    def texts(self, chat: str) -> list[str]:
        return [
            str(m.get("text") or m.get("caption") or "")
            for m in self._bot_messages(chat)
            if m.get("text") or m.get("caption")
        ]

    def kinds(self, chat: str) -> list[str]:
        names = ("photo", "video", "document", "location", "voice", "audio")
        return [
            next((n for n in names if n in m), "text" if "text" in m else "other")
            for m in self._bot_messages(chat)
        ]

    def buttons(self, chat: str) -> list[str]:
        for message in reversed(self._bot_messages(chat)):
            data = [b["callback_data"] for b in self.fake.inline_buttons(message)]
            if data:
                return data
        return []

    def buttons_answered(self) -> int:
        return sum(1 for c in self.fake.calls if c.method == "answerCallbackQuery" and c.ok)

    def menu(self) -> dict[str, list[str]]:
        return {
            key: [c["command"] for c in commands] for key, commands in self.fake.commands.items()
        }

    def fail_next_send(self, outcome: Outcome) -> None:
        fail = self.fake.fail_next
        if outcome == "retry":
            fail("sendMessage", status=502, description="Bad Gateway")
        elif outcome == "retry_after":
            fail(
                "sendMessage",
                status=429,
                description=f"Too Many Requests: retry after {RETRY_AFTER_S}",
                retry_after=RETRY_AFTER_S,
            )
        elif outcome == "unreachable":
            fail("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
        elif outcome == "give_up":
            fail("sendMessage", status=400, description="Bad Request: message is too long")
        else:
            fail("sendMessage", kind="disconnect")

    def file(self, data: bytes) -> FileRef:
        update = self.fake.send_photo(self.users[self.citizen], data)
        best = update["message"]["photo"][-1]
        return FileRef(best["file_id"], "photo", best.get("file_size"), "image/jpeg")

    def hold_downloads(self, held: bool) -> None:
        if held:
            self.fake.hold_file_downloads()
        else:
            self.fake.release_file_downloads()


class ZaloKit(ChannelKit):
    """The Zalo channel (citizens only: officers stay on Telegram) over the fake Zalo Bot
    API. Zalo has no buttons: the bot's choices are numbered menus kept per chat in
    `zalo_chat_menu`, and a press is the option's number typed as text."""

    citizen = "7001234567890"
    group = None
    outbox_kinds = frozenset({"message"})  # photos go by URL only; locals become notes
    albums = False
    outcomes = ("retry", "unreachable", "give_up", "no_answer")  # 429 has no retry_after
    citizen_commands = frozenset({"report", "mycases", "cancel", "help", "lang"})
    token_setting = "HOTLINE_ZALO_BOT_TOKEN"

    def __init__(self) -> None:
        from bot.channels.zalo.client import ZaloTokenRejected

        self.token_rejected = ZaloTokenRejected
        self.api: Any = None
        self.database: Path | None = None
        self.presses = 0

    @property
    def fake(self) -> Any:
        assert self.api is not None, "the fake Zalo Bot API is not running"
        return self.api

    def server(self) -> AbstractAsyncContextManager[Any]:
        from bot.fakes.zalo import FakeZaloAPI

        kit = self

        class _Running:
            async def __aenter__(self) -> Any:
                kit.api = await FakeZaloAPI().__aenter__()
                return kit.api

            async def __aexit__(self, *exc: object) -> None:
                await kit.fake.__aexit__(None, None, None)

        return _Running()

    def make_channel(self, hotline: Hotline, *, token: str | None = None) -> Channel:
        from bot.channels import zalo_channel

        self.database = db.sqlite_file(hotline.settings.database_url)
        return zalo_channel(hotline, token or self.fake.token, self.fake.base_url)

    def settings(self) -> dict[str, Any]:
        return {"zalo_bot_token": self.fake.token, "zalo_api_url": self.fake.base_url}

    def text(self, chat: str, text: str) -> RawUpdate:
        event: RawUpdate = self.fake.send_text(chat, text)
        return event

    def photo(self, chat: str, data: bytes, *, album: str | None = None) -> RawUpdate:
        event = self.fake.send_image(chat)
        name = event["message"]["photo_url"].rsplit("/", 1)[-1]
        self.fake.images[name] = data
        result: RawUpdate = event
        return result

    def _menu(self, chat: str) -> list[dict[str, Any]]:
        import json
        import sqlite3

        assert self.database is not None
        with sqlite3.connect(self.database) as conn:
            found = conn.execute(
                "SELECT options FROM zalo_chat_menu WHERE chat_id = ?", (chat,)
            ).fetchone()
        return list(json.loads(found[0])) if found else []

    def press(self, chat: str, data: str) -> RawUpdate:
        number = next(n for n, o in enumerate(self._menu(chat), 1) if o["data"] == data)
        self.presses += 1
        return self.text(chat, str(number))

    def unreadable(self) -> RawUpdate | None:
        return None  # every JSON event is read (an unknown one is noise)

    def texts(self, chat: str) -> list[str]:
        # The message's own text, without the menu or the notes the channel appends.
        return [str(m["text"]).split("\n\n")[0] for m in self.fake.messages(chat) if m["text"]]

    def kinds(self, chat: str) -> list[str]:
        return ["photo" if m["photo"] else "text" for m in self.fake.messages(chat)]

    def buttons(self, chat: str) -> list[str]:
        return [str(o["data"]) for o in self._menu(chat) if o.get("data")]

    def buttons_answered(self) -> int:
        return self.presses  # a typed choice needs no answer at the server

    def menu(self) -> dict[str, list[str]]:
        from bot.channels.zalo.channel import MENU_COMMANDS

        return {"menu": list(MENU_COMMANDS)}  # Zalo has no command menu: the typed "menu"

    def fail_next_send(self, outcome: Outcome) -> None:
        codes = {"retry": 502, "unreachable": 403, "give_up": 400, "no_answer": 0}
        self.fake.fail_next("sendMessage", codes[outcome])

    def file(self, data: bytes) -> FileRef:
        return FileRef(self.fake.image_url(data=data), "photo", None, "image/jpeg")

    def hold_downloads(self, held: bool) -> None:
        self.fake.hold_images(held)


# One factory per runtime: the tests below run on each (ids: [aiogram], [ptb], ...).
KITS: dict[str, Callable[[], ChannelKit]] = {
    "aiogram": lambda: TelegramKit("aiogram"),
    "ptb": lambda: TelegramKit("ptb"),
    "zalo": ZaloKit,
}


@pytest.fixture(params=list(KITS))
async def kit(request: pytest.FixtureRequest) -> AsyncIterator[ChannelKit]:
    """Each channel runtime with its fake server running."""
    made = KITS[request.param]()
    async with made.server():
        yield made


@pytest.fixture
async def hotline(kit: ChannelKit, sqlite_url: str, tmp_path: Path) -> AsyncIterator[Hotline]:
    await migrate(sqlite_url)
    app = Hotline(make_settings(sqlite_url, tmp_path / "media", **kit.settings()))
    app.media.ensure_dir()
    yield app
    await app.close()


@pytest.fixture
async def channel(kit: ChannelKit, hotline: Hotline) -> AsyncIterator[Channel]:
    """The runtime, started (identity and menu), closed after the test."""
    made = kit.make_channel(hotline)
    await made.start()
    try:
        yield made
    finally:
        await made.close()


_items = itertools.count(1)


def item(channel: Channel, raw: RawUpdate) -> InboxItem:
    """The inbox item the dispatcher would hand over for a stored raw update."""
    uid = channel.update_id(raw)
    assert uid is not None
    route = channel.route(raw)
    return InboxItem(uid, raw, route.chat_key, route.group_key, 1)


async def outbox(hotline: Hotline, chat: str) -> list[Outbox]:
    async with hotline.sessionmaker() as session:
        rows = (await session.exec(select(Outbox).where(Outbox.chat_id == chat))).all()
    return sorted(rows, key=lambda r: r.id or 0)


async def handle(channel: Channel, *raws: RawUpdate) -> bool:
    return await channel.handle([item(channel, raw) for raw in raws])


# ---------------------------------------------------------------- routing


async def test_routing_of_raw_updates(kit: ChannelKit, hotline: Hotline) -> None:
    channel = kit.make_channel(hotline)
    try:
        first, second = kit.text(kit.citizen, "/report"), kit.text(kit.citizen, "xin chào")
        uid1, uid2 = channel.update_id(first), channel.update_id(second)
        assert uid1 is not None and uid2 is not None and uid2 > uid1  # arrival order
        route = channel.route(first)
        assert (route.chat_key, route.group_key, route.has_files) == (kit.citizen, None, False)
        assert route.chat_type == "private" and not route.refused(frozenset())

        assert channel.route(kit.photo(kit.citizen, tiny_png(3, 3))).has_files
        if kit.albums:
            a = channel.route(kit.photo(kit.citizen, tiny_png(4, 4), album="alb-1"))
            b = channel.route(kit.photo(kit.citizen, tiny_png(5, 5), album="alb-1"))
            assert a.group_key == b.group_key is not None and a.has_files and b.has_files
        assert not channel.is_group(kit.citizen)

        if kit.group is not None:
            in_group = channel.route(kit.text(kit.group, "chuyện khác"))
            assert in_group.chat_key == kit.group and channel.is_group(kit.group)
            assert in_group.refused(frozenset())  # a group that is not linked: dropped
            assert not in_group.refused(frozenset({kit.group}))
            assert not channel.route(kit.text(kit.group, "/link 123456")).refused(frozenset())

        unreadable = kit.unreadable()
        if unreadable is not None:
            assert not channel.readable(unreadable)
        assert channel.readable(first)
    finally:
        await channel.close()


# ---------------------------------------------------------------- handle → Event → outbox


async def test_handle_runs_the_core_and_writes_the_answer_to_the_outbox(
    kit: ChannelKit, hotline: Hotline, channel: Channel
) -> None:
    assert await handle(channel, kit.text(kit.citizen, "/report"))  # the rows are closed
    rows = await outbox(hotline, kit.citizen)
    assert rows and "Bước 1/7" in rows[-1].payload["text"]
    assert rows[-1].channel == channel.name
    # A button press reaches the core (the step moves on) and is answered at the server.
    data = next(b["data"] for row in rows[-1].payload["buttons"] for b in row)
    for row in rows:
        await channel.deliver(row, [], no_pace)
    assert await handle(channel, kit.press(kit.citizen, data))
    assert "Bước 2/7" in (await outbox(hotline, kit.citizen))[-1].payload["text"]
    assert kit.buttons_answered() == 1  # the client's spinner stops


async def test_an_album_is_handled_whole(
    kit: ChannelKit, hotline: Hotline, channel: Channel
) -> None:
    """Its items, handed over together, are one event: all photos kept, one answer; the
    files are downloaded by the channel's own fetcher."""
    if not kit.albums:
        pytest.skip("this channel has no albums")
    ids = itertools.count(10**9)  # apart from the fake server's update ids
    citizen = Person(hotline, kit.citizen, channel=channel.name, update_ids=ids)
    await advance_to(citizen, "evidence")
    seen = len(await outbox(hotline, kit.citizen))
    items = [kit.photo(kit.citizen, tiny_png(10 + i, 10), album="alb-7") for i in range(3)]
    assert await handle(channel, *items)
    assert len((await citizen.draft())["evidence"]) == 3
    answers = (await outbox(hotline, kit.citizen))[seen:]
    assert len(answers) == 1 and "3/5" in answers[0].payload["text"]


async def test_a_database_failure_while_handling_is_raised_not_swallowed(
    kit: ChannelKit, hotline: Hotline, channel: Channel
) -> None:
    """Whatever the client library does with a handler's error, a database that cannot
    be written reaches the inbox dispatcher, which puts the update back uncounted."""
    from tests.test_inbox import ReadOnlyFile

    readonly = ReadOnlyFile(hotline.engine)
    readonly.on = True
    with pytest.raises(Exception) as caught:  # noqa: PT011  (any error the database gives)
        await handle(channel, kit.text(kit.citizen, "/report"))
    assert storage_unavailable(caught.value), caught.value
    readonly.on = False
    assert await handle(channel, kit.text(kit.citizen, "/report"))  # and once it is back
    assert "Bước 1/7" in (await outbox(hotline, kit.citizen))[-1].payload["text"]


async def test_a_given_up_update_is_apologised_for(
    kit: ChannelKit, hotline: Hotline, channel: Channel
) -> None:
    async with hotline.sessionmaker() as session:
        sorry = await channel.apology(session, item(channel, kit.text(kit.citizen, "xin chào")))
        assert sorry is not None and sorry.chat_id == kit.citizen
        assert sorry.text == t("vi", "error.generic")
        if kit.group is not None:  # a group that is not linked hears nothing
            unlinked = item(channel, kit.text(kit.group, "xin chào"))
            assert await channel.apology(session, unlinked) is None


# ---------------------------------------------------------------- deliver


def _row(kit: ChannelKit, chat: str, kind: str, **payload: Any) -> Outbox:
    return Outbox(id=next(_items), channel="x", chat_id=chat, kind=kind, payload=payload)


async def test_every_outbox_kind_is_delivered(
    kit: ChannelKit, hotline: Hotline, channel: Channel
) -> None:
    citizen, group, kinds = kit.citizen, kit.group or kit.citizen, kit.outbox_kinds
    kit.text(citizen, "/start")  # the citizen has written to the bot
    if kit.group is not None:
        kit.text(group, "/help")  # the bot is in the group
    photos = []
    for n in range(3):
        path = hotline.media.root / f"p{n}.png"
        path.write_bytes(tiny_png(8 + n, 8))
        photos.append({"kind": "photo", "path": path.name})
    doc = hotline.media.root / "report.pdf"
    doc.write_bytes(b"%PDF-1.4 tiny")
    document = {"kind": "document", "path": doc.name, "filename": "bien-ban.pdf"}
    buttons = [[{"text": "Có", "data": "c1:yes"}, {"text": "Không", "data": "c1:no"}]]

    deliver = channel.deliver
    sent = await deliver(_row(kit, citizen, "message", text="<b>chào</b>", html=True), [], no_pace)
    assert len(sent.message_ids) == 1
    await deliver(_row(kit, citizen, "message", text="nút", buttons=buttons), [], no_pace)
    assert kit.buttons(citizen) == ["c1:yes", "c1:no"]
    keyboard = [[{"text": "📍 Gửi vị trí", "request_location": True}]]
    await deliver(_row(kit, citizen, "message", text="bàn phím", keyboard=keyboard), [], no_pace)
    await deliver(_row(kit, citizen, "message", text="trả lời", force_reply=True), [], no_pace)
    await deliver(_row(kit, citizen, "message", text="bỏ", remove_keyboard=True), [], no_pace)
    assert kit.texts(citizen)[:5] == ["chào", "nút", "bàn phím", "trả lời", "bỏ"]
    seen = len(kit.kinds(citizen))
    expected: Counter[str] = Counter()
    if "location" in kinds:
        await deliver(_row(kit, citizen, "location", latitude=21.8, longitude=106.7), [], no_pace)
        expected["location"] += 1
    if "album" in kinds:
        row = _row(kit, citizen, "album", text="ảnh", media=[*photos, document])
        assert len((await deliver(row, [], no_pace)).message_ids) >= 1
        expected.update({"photo": 3, "document": 1})
    if "document" in kinds:
        row = _row(kit, citizen, "document", text="tệp", media=[document])
        assert len((await deliver(row, [], no_pace)).message_ids) == 1
        expected["document"] += 1
    assert Counter(kit.kinds(citizen)[seen:]) == expected

    if "edit" in kinds:  # a card edit: the targets that are now this text count as edited
        card = await deliver(_row(kit, group, "message", text="thẻ", buttons=buttons), [], no_pace)
        row = _row(kit, group, "edit", text="thẻ mới", buttons=buttons[:1])
        edited = await deliver(row, card.message_ids, no_pace)
        assert edited.message_ids == card.message_ids and "thẻ mới" in kit.texts(group)
    if "topic" in kinds:
        topic = await deliver(_row(kit, group, "topic", text="PA20-000001"), [], no_pace)
        (thread,) = topic.message_ids
        anchored = _row(kit, group, "message", text="trong chủ đề", message_thread_id=thread)
        assert len((await deliver(anchored, [], no_pace)).message_ids) == 1
        for kind in ("topic_close", "topic_reopen"):
            row = _row(kit, group, kind, message_thread_id=thread)
            assert (await deliver(row, [], no_pace)).message_ids == []


async def test_each_failure_is_sorted_into_retry_retry_after_unreachable_or_give_up(
    kit: ChannelKit, hotline: Hotline, channel: Channel
) -> None:
    """Through the real client library: the fake fails the call, `deliver` raises what
    `classify` makes of the library's error."""
    kit.text(kit.citizen, "/start")  # the citizen has written to the bot
    seen: dict[Outcome, RetryLater | PermanentFailure] = {}
    for outcome in kit.outcomes:
        kit.fail_next_send(outcome)
        with pytest.raises((RetryLater, PermanentFailure)) as caught:
            await channel.deliver(_row(kit, kit.citizen, "message", text="x"), [], no_pace)
        seen[outcome] = caught.value
        # What the library raised, classified directly, means the same.
        cause = caught.value.__cause__
        assert cause is not None
        again = channel.classify(cause)
        assert type(again) is type(caught.value)
    assert {"retry", "unreachable", "give_up"} <= set(seen), "every channel has these"
    retry, gone, refused = seen["retry"], seen["unreachable"], seen["give_up"]
    assert isinstance(retry, RetryLater) and not retry.rate_limited
    assert isinstance(gone, PermanentFailure) and gone.unreachable
    assert isinstance(refused, PermanentFailure) and not refused.unreachable
    if "retry_after" in seen:
        later = seen["retry_after"]
        assert isinstance(later, RetryLater) and later.rate_limited
        assert later.delay == pytest.approx(RETRY_AFTER_S)
    if "no_answer" in seen:
        lost = seen["no_answer"]
        assert isinstance(lost, RetryLater) and lost.maybe_delivered  # maybe sent
    assert channel.classify(ValueError("not a channel error")) is None
    # After all that, the channel still sends.
    await channel.deliver(_row(kit, kit.citizen, "message", text="vẫn gửi"), [], no_pace)
    assert kit.texts(kit.citizen)[-1] == "vẫn gửi"


# ---------------------------------------------------------------- files


async def test_the_fetcher_downloads_and_a_stuck_download_does_not_hold_up_sending(
    kit: ChannelKit, hotline: Hotline, channel: Channel, tmp_path: Path
) -> None:
    data = tiny_png(20, 10)
    ref = kit.file(data)
    await channel.fetcher.fetch(ref, str(tmp_path / "one"))
    assert (tmp_path / "one").read_bytes() == data
    kit.hold_downloads(True)
    stuck = [
        asyncio.ensure_future(channel.fetcher.fetch(ref, str(tmp_path / f"held{n}")))
        for n in range(hotline.settings.download_concurrency + 2)
    ]
    try:
        await asyncio.sleep(0.2)
        sent = await asyncio.wait_for(
            channel.deliver(_row(kit, kit.citizen, "message", text="gửi"), [], no_pace), 5
        )
        assert len(sent.message_ids) == 1
        assert not any(task.done() for task in stuck)
    finally:
        kit.hold_downloads(False)
        await asyncio.wait_for(asyncio.gather(*stuck), 15)
    assert (tmp_path / "held0").read_bytes() == data


# ---------------------------------------------------------------- receiving


async def test_the_receiver_stores_each_batch_in_the_inbox(
    kit: ChannelKit, hotline: Hotline, channel: Channel
) -> None:
    raws = [kit.text(kit.citizen, "/report"), kit.text(kit.citizen, "xin chào")]
    receiver = channel.receiver()
    task = asyncio.ensure_future(receiver.run())
    try:
        for _ in range(200):
            async with hotline.sessionmaker() as session:
                rows = (await session.exec(select(InboundUpdate))).all()
            if len(rows) == len(raws):
                break
            await asyncio.sleep(0.05)
    finally:
        await receiver.stop()
        await asyncio.wait_for(task, 10)
    assert sorted(r.update_id for r in rows) == sorted(channel.update_id(r) for r in raws)
    assert all(r.channel == channel.name and r.processed_at is None for r in rows)
    async with hotline.sessionmaker() as session:
        assert await services.count_pending_inbound(session, channel.name) == 2


# ---------------------------------------------------------------- lifecycle


async def test_start_fills_the_command_menu_and_close_releases(
    kit: ChannelKit, hotline: Hotline
) -> None:
    channel = kit.make_channel(hotline)
    await channel.start()
    await channel.close()
    menus = [set(commands) for commands in kit.menu().values()]
    assert menus, "no command menu"
    # The citizens' menu, without the officers' commands; the officers' menu.
    assert any(kit.citizen_commands <= m and not kit.group_commands & m for m in menus)
    if kit.group_commands:
        assert any(kit.group_commands <= m for m in menus)


async def test_a_rejected_token_stops_the_start_clearly(kit: ChannelKit, hotline: Hotline) -> None:
    secret = "999999:WRONG-TOKEN-secret"
    channel = kit.make_channel(hotline, token=secret)
    try:
        with pytest.raises(kit.token_rejected) as caught:
            await channel.start()
    finally:
        await channel.close()
    message = str(caught.value)
    assert kit.token_setting in message and secret not in message


# ---------------------------------------------------------------- the setting


async def test_the_setting_picks_the_telegram_runtime(sqlite_url: str, tmp_path: Path) -> None:
    """HOTLINE_TELEGRAM_LIBRARY (aiogram by default, case and spaces ignored) picks what
    build_channels builds; anything else is refused when the settings are read."""
    from pydantic import ValidationError

    from bot.channels import TELEGRAM_LIBRARIES, build_channels
    from bot.channels.telegram.channel import TelegramChannel

    assert make_settings(sqlite_url, tmp_path).telegram_library == "aiogram"
    built = {}
    for given, library in (("aiogram", "aiogram"), (" PTB ", "ptb")):
        app = Hotline(make_settings(sqlite_url, tmp_path, telegram_library=given))
        try:
            (channel,) = build_channels(app)
            assert isinstance(channel, TelegramChannel) and channel.library == library
            built[library] = type(channel).__name__
            await channel.close()
        finally:
            await app.close()
    assert built == {"aiogram": "AiogramChannel", "ptb": "PtbChannel"}
    assert set(built) == set(TELEGRAM_LIBRARIES)
    with pytest.raises(ValidationError):
        make_settings(sqlite_url, tmp_path, telegram_library="telethon")
