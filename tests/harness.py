"""Drive the hotline core with neutral events, as a channel adapter would."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bot.app import Hotline
from handlers.events import Event, FileRef, Reply
from models.tables import Conversation, Outbox

_update_ids = itertools.count(1)
_file_ids = itertools.count(1)


class FakeFetcher:
    """Stands in for a channel's file download: serves bytes registered by the test."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def register(self, data: bytes) -> str:
        """Make `data` downloadable; returns its file id."""
        file_id = f"file-{next(_file_ids)}"
        self.files[file_id] = data
        return file_id

    async def fetch(self, ref: FileRef, destination: str) -> None:
        """Write the registered bytes."""
        Path(destination).write_bytes(self.files[ref.file_id])  # noqa: ASYNC240  (tiny files)


class Person:
    """A citizen in a private chat, or an officer in a group chat."""

    def __init__(
        self,
        hotline: Hotline,
        user_id: str,
        *,
        chat_id: str | None = None,
        chat_type: str = "private",
        name: str = "Nguyễn Văn A",
        language_code: str | None = "vi",
        fetcher: FakeFetcher | None = None,
        channel: str = "telegram",
        update_ids: Iterator[int] | None = None,
    ) -> None:
        self.hotline = hotline
        self.channel = channel
        # A channel's own updates in the same test need ids apart from these.
        self._update_ids = update_ids or _update_ids
        self.user_id = user_id
        self.chat_id = chat_id or user_id
        self.chat_type = chat_type
        self.name = name
        self.language_code = language_code
        self.fetcher = fetcher or FakeFetcher()
        self._seen_outbox = 0
        self.last_event: Event | None = None

    async def send(self, kind: str, **fields: Any) -> Reply | None:
        """Deliver one event to the core, in its own transaction."""
        event = Event(
            channel=self.channel,
            chat_id=self.chat_id,
            chat_type=self.chat_type,  # type: ignore[arg-type]
            user_id=self.user_id,
            user_name=self.name,
            language_code=self.language_code,
            update_id=fields.pop("update_id", next(self._update_ids)),
            kind=kind,  # type: ignore[arg-type]
            **fields,
        )
        self.last_event = event
        async with self.hotline.chat_turn(self.channel, self.chat_id):
            return await self.hotline.process(event, self.fetcher)

    async def redeliver(self) -> Reply | None:
        """Deliver the last event again, same update id (as a channel may after a crash)."""
        async with self.hotline.chat_turn(self.channel, self.chat_id):
            return await self.hotline.process(self.last_event, self.fetcher)

    async def text(self, text: str, **kw: Any) -> Reply | None:
        """Type a message."""
        return await self.send("text", text=text, **kw)

    async def command(self, name: str, args: str = "") -> Reply | None:
        """Send /name args."""
        return await self.send("command", command=name, text=args)

    async def press(self, data: str, **kw: Any) -> Reply | None:
        """Press an inline button (`message_id`: of the message that carries it)."""
        return await self.send("button", button_data=data, **kw)

    async def location(self, lat: float, lon: float) -> Reply | None:
        """Share a GPS pin."""
        return await self.send("location", latitude=lat, longitude=lon)

    async def photos(self, *blobs: bytes, caption: str | None = None, **kw: Any) -> Reply | None:
        """Send one photo or an album (collected into one event, as the adapter does)."""
        refs = tuple(
            FileRef(self.fetcher.register(b), "photo", len(b), "image/jpeg") for b in blobs
        )
        return await self.send("media", files=refs, text=caption, **kw)

    async def file(
        self, kind: str, data: bytes, *, size: int | None = None, **kw: Any
    ) -> Reply | None:
        """Send a video, voice note or document (size may be declared larger than data)."""
        ref = FileRef(
            self.fetcher.register(data),
            kind,
            size if size is not None else len(data),
            "application/pdf" if kind == "document" else None,
        )
        return await self.send("media", files=(ref,), **kw)

    async def contact(self, phone: str, own: bool = True) -> Reply | None:
        """Share a phone number."""
        return await self.send("contact", phone=phone, contact_is_own=own)

    async def sticker(self) -> Reply | None:
        """Send a sticker."""
        return await self.send("unsupported", unsupported_kind="sticker")

    async def new_messages(self, chat_id: str | None = None) -> list[Outbox]:
        """Outbox rows queued for this chat (or `chat_id`) since the last call."""
        target = chat_id or self.chat_id
        async with self.hotline.sessionmaker() as session:
            rows = list(
                (
                    await session.exec(
                        select(Outbox).where(Outbox.chat_id == target).order_by(col(Outbox.id))
                    )
                ).all()
            )
        if chat_id is None:
            fresh = rows[self._seen_outbox :]
            self._seen_outbox = len(rows)
            return fresh
        return rows

    async def texts(self) -> list[str]:
        """Texts of the new messages to this chat."""
        return [row.payload["text"] for row in await self.new_messages()]

    async def last(self) -> Outbox:
        """The latest new message to this chat."""
        rows = await self.new_messages()
        assert rows, "the bot sent nothing"
        return rows[-1]

    async def state(self) -> str | None:
        """Where this citizen's conversation stands."""
        async with self.hotline.sessionmaker() as session:
            conv = (
                await session.exec(
                    select(Conversation).where(Conversation.user_id == self.user_id)
                )
            ).first()
        return conv.state if conv else None

    async def draft(self) -> dict[str, Any]:
        """The conversation's draft data."""
        async with self.hotline.sessionmaker() as session:
            conv = (
                await session.exec(
                    select(Conversation).where(Conversation.user_id == self.user_id)
                )
            ).first()
        return dict(conv.data) if conv else {}


def buttons(row: Outbox) -> list[str]:
    """Callback data of an outbox message's inline buttons."""
    return [b["data"] for line in row.payload.get("buttons", []) for b in line]


async def card_actions(officer: Person, card: Outbox) -> list[str]:
    """Every action a card offers its chat: its own buttons and, when it has «Thêm…», those
    that pressing it shows. The press's redraw is taken as read: the officer's later
    `new_messages()` do not see it."""
    datas = buttons(card)
    more = next((d for d in datas if d.startswith("c1:more:")), None)
    if more is None:
        return datas
    before = len(await officer.new_messages(card.chat_id))
    await officer.press(more)
    rows = await officer.new_messages(card.chat_id)
    (edit,) = rows[before:]
    assert edit.kind == "edit" and edit.payload["text"] == card.payload["text"]
    if card.chat_id == officer.chat_id and officer._seen_outbox == before:
        officer._seen_outbox = len(rows)
    shown = [d for d in buttons(edit) if not d.startswith("c1:back:")]
    assert f"c1:back:{more.split(':')[2]}" in buttons(edit)
    return [d for d in datas if d != more] + shown


KY_LUA = (21.85926, 106.75417)  # the centroid of Phường Kỳ Lừa, Lạng Sơn
JPEG = (Path(__file__).parent / "data" / "tiny.jpg").read_bytes()


def description_for(citizen: Person) -> str:
    """A description in the citizen's language: what people type decides the language they
    are answered in (handlers/language.py), so an English client writes English."""
    if citizen.language_code == "en":
        return "Black smoke comes out of the brick kiln every evening, the street can't breathe."
    return "Khói đen bốc ra từ nhà máy gạch mỗi tối, cả khu phố ngạt thở."


async def file_report(citizen: Person, *, photos: int = 1, anonymous: bool = True) -> str:
    """Walk a citizen through a whole report by GPS; returns the case code."""
    await citizen.command("report")
    await citizen.press("c1:cat:emissions")
    await citizen.location(*KY_LUA)
    await citizen.press("c1:ward:06187")
    if photos:
        await citizen.photos(*([JPEG] * photos))
    await citizen.press("c1:ev:done")
    await citizen.text(description_for(citizen))
    await citizen.press("c1:nat:recurring")
    await citizen.press("c1:src:skip")
    if anonymous:
        await citizen.text("🙈 Ẩn danh")
    else:
        await citizen.contact("+84912345678")
    await citizen.press("c1:sum:ok")
    if await citizen.state() == "duplicate":  # a nearby open case offered: file separately
        await citizen.press("c1:dup:new")
    texts = await citizen.texts()
    import re

    for text in reversed(texts):
        match = re.search(r"PA\d{2}-\d{6}", text)
        if match:
            return match.group(0)
    raise AssertionError(f"no case code in {texts}")


async def advance_to(citizen: Person, state: str) -> None:
    """Start a report and answer each step with a valid choice until `state` is asked."""
    steps: list[tuple[str, Any]] = [
        ("category", lambda: citizen.press("c1:cat:odour")),
        ("location", lambda: citizen.location(*KY_LUA)),
        ("ward", lambda: citizen.press("c1:ward:06187")),
        ("evidence", lambda: citizen.press("c1:ev:done")),
        ("description", lambda: citizen.text("Mùi hôi thối từ bãi rác bốc lên nồng nặc.")),
        ("nature", lambda: citizen.press("c1:nat:now")),
        ("source", lambda: citizen.press("c1:src:skip")),
        ("contact", lambda: citizen.text("🙈 Ẩn danh")),
    ]
    await citizen.command("report")
    for name, answer in steps:
        if name == state:
            return
        await answer()
    assert state == "summary", f"unknown step {state}"


async def store_and_forget(api: Any, url: str) -> list[dict[str, Any]]:
    """What runs that died after storing their batches leave: inbox rows Telegram forgot.

    Stores the fake Bot API's pending updates as the receiver would (with their routing
    keys), then confirms them at the server; returns them.
    """
    from bot import db, services
    from bot.channels.telegram.routing import route_update

    pending = api.pending_updates
    arrivals = []
    for update in pending:
        route = route_update(update)
        arrivals.append(
            services.Arrival(update["update_id"], update, route.chat_key, route.group_key)
        )
    engine = db.make_engine(url)
    try:
        async with db.session_scope(db.make_sessionmaker(engine)) as session:
            await services.store_inbound(session, "telegram", arrivals)
    finally:
        await engine.dispose()
    bot = api.create_bot()
    try:  # confirmed at the server: only the inbox has them now
        await bot.delete_webhook(drop_pending_updates=True)
    finally:
        await bot.session.close()
    assert api.pending_updates == []
    return pending
