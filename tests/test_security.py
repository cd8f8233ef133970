"""Security and confidentiality: link-code guessing, who sees a reporter, logs, media, forgery.

Quy chế 174 makes a reporter's identity confidential: their phone number and name reach only
the officer groups of the case's ward, and only when they chose to share them.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, select

from bot import db, services
from bot.app import Hotline
from bot.i18n import t
from bot.logs import configure_logging
from handlers.context import local_time
from handlers.events import FileRef
from models.tables import (
    Case,
    CaseEvent,
    Conversation,
    Evidence,
    GroupLink,
    LinkAttempt,
    LinkCode,
    MessageRef,
    Outbox,
    Reporter,
)
from tests.harness import JPEG, Person, advance_to, file_report
from tests.test_officer import card_sent, link_group, prompt_sent, the_case

PHONE = "+84912345678"  # what file_report shares
NAME = "Hoàng Thị Xuyến Quỳnh"
DISTINCTIVE = ("Xuyến", "Quỳnh")  # parts of the name no other text here contains
TAM_THANH = "05986"  # Phường Tam Thanh, a third ward of Lạng Sơn


def leaks(text: str, *, name: str = NAME, phone: str = PHONE) -> list[str]:
    """The pieces of the reporter's identity found in `text`, in any usual form."""
    national = phone.removeprefix("+84")  # 912345678
    found = [p for p in (phone, "0" + national, "84" + national, national) if p in text]
    # Spaced or dotted forms (0912 345 678, 091.234.5678): compare digits only.
    if national in re.sub(r"[\s.\-()]", "", text):
        found.append("digits")
    for part in (name, *DISTINCTIVE):
        escaped = json.dumps(part)[1:-1]  # the \u-escaped form, as ensure_ascii JSON has it
        found += [p for p in {part, escaped} if p in text]
    return found


def test_the_leak_detector_finds_every_form() -> None:
    for text in ("gọi 0912 345 678", "+84912345678", "84-912-345-678", "Xuy\\u1ebfn", NAME):
        assert leaks(text), text
    assert leaks("ẩn danh, PA20-000001, update 912") == []


# ---------------------------------------------------------------- link-code guessing


T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


async def test_lockout_window_with_an_explicit_clock(any_hotline: Hotline) -> None:
    window = timedelta(minutes=15)

    async def locked(chat: str, minutes: float, channel: str = "telegram") -> datetime | None:
        async with any_hotline.sessionmaker() as s:
            return await services.link_locked_until(
                s,
                channel,
                chat,
                max_failures=3,
                window=window,
                now=T0 + timedelta(minutes=minutes),
            )

    async def attempt(chat: str, minutes: float, ok: bool = False) -> None:
        async with db.session_scope(any_hotline.sessionmaker) as s:
            await services.record_link_attempt(
                s, "telegram", chat, ok=ok, now=T0 + timedelta(minutes=minutes)
            )

    for minute in (0, 1):
        await attempt("-1", minute)
    assert await locked("-1", 2) is None  # two wrong codes: not yet
    await attempt("-1", 2)
    assert await locked("-1", 2) == T0 + window  # the third: until the first ages out
    assert await locked("-1", 14.99) == T0 + window
    assert await locked("-1", 15) is None
    assert await locked("-2", 2) is None and await locked("-1", 2, channel="zalo") is None
    await attempt("-1", 5)  # trying during the lock-out (refused, so wrong) extends it
    assert await locked("-1", 5) == T0 + timedelta(minutes=16)  # until two have aged out
    assert await locked("-1", 15.99) == T0 + timedelta(minutes=16)
    assert await locked("-1", 16) is None

    # Wrong codes before a successful link do not count against the chat afterwards.
    for minute, ok in ((0, False), (1, False), (2, True), (3, False), (4, False)):
        await attempt("-3", minute, ok)
    assert await locked("-3", 5) is None
    await attempt("-3", 5)
    assert await locked("-3", 5) == T0 + timedelta(minutes=18)


async def test_guessing_link_codes_is_locked_out_and_the_right_code_does_not_help(
    hotline: Hotline,
) -> None:
    hotline.deps.link_max_failures = 3
    async with db.session_scope(hotline.sessionmaker) as s:
        code = await services.create_link_code(s, "20", "06187")
    guesser = Person(hotline, "66", chat_id="-7777", chat_type="group")

    async def attempts() -> list[LinkAttempt]:
        async with hotline.sessionmaker() as s:
            stmt = select(LinkAttempt).order_by(col(LinkAttempt.id))
            return list((await s.exec(stmt)).all())

    for guess in ("AAAAAAAAAAAA", "BBBBBBBBBBBB"):
        await guesser.command("link", guess)
        assert "không đúng" in (await guesser.texts())[0]
    await guesser.command("link", "CCCCCCCCCCCC")
    (locked,) = await guesser.texts()
    first = (await attempts())[0].at
    assert "quá nhiều lần" in locked and local_time(first + timedelta(minutes=15)) in locked
    minutes = int(re.findall(r"khoảng (\d+) phút", locked)[0])
    assert 1 <= minutes <= 15

    # The right code now: refused without being looked at, so it stays unused.
    await guesser.command("link", code)
    (refused,) = await guesser.texts()
    rows = await attempts()
    assert "quá nhiều lần" in refused and local_time(rows[1].at + timedelta(minutes=15)) in refused
    assert [a.ok for a in rows] == [False] * 4 and {a.chat_id for a in rows} == {"-7777"}
    async with hotline.sessionmaker() as s:
        assert (await s.exec(select(GroupLink))).all() == []
        assert all(c.used_at is None for c in (await s.exec(select(LinkCode))).all())

    # Another group is not affected by this one's lock-out.
    other = Person(hotline, "67", chat_id="-8888", chat_type="group")
    await other.command("link", "DDDDDDDDDDDD")
    assert "không đúng" in (await other.texts())[0]

    # Once the window has passed (the attempts are moved into the past), the code works.
    async with db.session_scope(hotline.sessionmaker) as s:
        for row in (await s.exec(select(LinkAttempt))).all():
            row.at -= timedelta(minutes=16)
            s.add(row)
    await guesser.command("link", code)
    assert "Phường Kỳ Lừa" in (await guesser.texts())[0]
    assert (await attempts())[-1].ok


# ---------------------------------------------------------------- who sees the reporter


async def test_contact_reaches_only_the_groups_of_the_case_ward(hotline: Hotline) -> None:
    """The phone goes where the reporter gave it: Kỳ Lừa's receiving point (the province
    group while Kỳ Lừa has no group), and nowhere the case is reassigned to afterwards."""
    province = await link_group(hotline, "-2000", ward=None)
    cao_loc = await link_group(hotline, "-1003", ward="06193")
    tam_thanh = await link_group(hotline, "-1004", ward=TAM_THANH)
    citizen = Person(hotline, "1001", name=NAME)
    code = await file_report(citizen, photos=1, anonymous=False)
    case = await the_case(hotline)
    assert case.contact_ward_code == "06187"
    allowed: list[tuple[int, set[str]]] = []  # (first outbox id, chats that may see it)

    async def mark(chats: set[str]) -> None:
        async with hotline.sessionmaker() as s:
            last = (await s.exec(select(Outbox).order_by(col(Outbox.id).desc()))).first()
        allowed.append(((last.id or 0) + 1 if last else 1, chats | {citizen.chat_id}))

    # Kỳ Lừa has no group: the province group receives for it, and sees the phone alone.
    allowed.append((1, {citizen.chat_id, "-2000"}))
    card = (await province.new_messages())[0]
    assert code in card.payload["text"] and PHONE in card.payload["text"]
    assert not {NAME, *DISTINCTIVE} & set(leaks(card.payload["text"]))  # the phone alone
    assert await cao_loc.new_messages() == [] and await tam_thanh.new_messages() == []

    # The province sends it to Cao Lộc: the phone stays with Kỳ Lừa's receiving point, so
    # neither Cao Lộc's new card nor the province's rewritten one shows it.
    await card_sent(hotline, "-2000", case.id or 0, 7001)
    await province.press(f"c1:rsg:{case.id}")
    await prompt_sent(hotline, province, 7002)
    await mark(set())
    await province.text("Cao Lộc", reply_to_message_id=7002)
    await province.press(f"c1:rsw:{case.id}:06193")  # confirmed
    (card,) = [m for m in await cao_loc.new_messages() if m.kind == "message"]
    assert leaks(card.payload["text"]) == []
    assert t("vi", "card.contact_ward_only") in card.payload["text"]
    for row in await province.new_messages():
        assert leaks(str(row.payload)) == []

    # Cao Lộc acknowledges: one refresh, rendered per chat, the phone nowhere.
    await card_sent(hotline, "-1003", case.id or 0, 7003)
    await cao_loc.press(f"c1:ack:{case.id}")
    (ward_edit,) = await cao_loc.new_messages()
    (province_edit,) = await province.new_messages()
    assert ward_edit.kind == province_edit.kind == "edit"
    assert leaks(ward_edit.payload["text"]) == leaks(province_edit.payload["text"]) == []

    # Cao Lộc passes it on to Tam Thanh: nor does Tam Thanh get it.
    await cao_loc.press(f"c1:rsg:{case.id}")
    await prompt_sent(hotline, cao_loc, 7004)
    await cao_loc.text("Tam Thanh", reply_to_message_id=7004)
    await cao_loc.press(f"c1:rsw:{case.id}:05986")  # confirmed
    assert (await the_case(hotline)).ward_code == TAM_THANH
    assert all(leaks(str(m.payload)) == [] for m in await cao_loc.new_messages())
    assert all(leaks(str(m.payload)) == [] for m in await tam_thanh.new_messages())

    # Over the whole story, every outbox row that carries the contact went to the reporter
    # or to the receiving point of the ward they gave it to, while the case was that ward's.
    async with hotline.sessionmaker() as s:
        rows = (await s.exec(select(Outbox).order_by(col(Outbox.id)))).all()
    carrying = [r for r in rows if leaks(json.dumps(r.payload, ensure_ascii=False))]
    assert {r.chat_id for r in carrying} == {citizen.chat_id, "-2000"}
    for row in carrying:
        chats = next(c for start, c in reversed(allowed) if (row.id or 0) >= start)
        assert row.chat_id in chats, (row.id, row.chat_id, row.payload.get("text"))


async def test_anonymous_reporter_is_anonymous_everywhere(hotline: Hotline) -> None:
    ward = await link_group(hotline, "-1001")
    province = await link_group(hotline, "-2000", ward=None)
    citizen = Person(hotline, "1001", name=NAME)
    await file_report(citizen, photos=0, anonymous=True)
    case = await the_case(hotline)
    await card_sent(hotline, "-1001", case.id or 0)
    await province.press(f"c1:vfy:{case.id}")
    for row in [*await ward.new_messages(), *await province.new_messages()]:
        assert leaks(json.dumps(row.payload, ensure_ascii=False)) == []
        if row.kind in ("message", "edit"):
            assert t("vi", "card.anonymous") in row.payload["text"]


# ---------------------------------------------------------------- groups that are not linked


DOMAIN: tuple[type[SQLModel], ...] = (
    Reporter,
    Case,
    Evidence,
    CaseEvent,
    GroupLink,
    LinkCode,
    MessageRef,
    Conversation,
)


async def domain_state(app: Hotline) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables a press or a message could change (not the inbox/outbox)."""
    out = {}
    async with app.sessionmaker() as s:
        for table in DOMAIN:
            rows = (await s.exec(select(table).order_by(col(table.id)))).all()  # type: ignore[attr-defined]
            out[table.__tablename__] = [r.model_dump() for r in rows]  # type: ignore[attr-defined]
    return out


async def outbox_count(app: Hotline) -> int:
    async with app.sessionmaker() as s:
        return len((await s.exec(select(Outbox))).all())


async def two_cases_one_closed(app: Hotline) -> tuple[Person, Case, Case]:
    """A linked Kỳ Lừa group with one open case and one resolved case."""
    officer = await link_group(app, "-1001")
    await file_report(Person(app, "1001", name=NAME), photos=1, anonymous=False)
    await file_report(Person(app, "1002"), photos=0)
    async with app.sessionmaker() as s:
        first, second = (await s.exec(select(Case).order_by(col(Case.id)))).all()
    await officer.press(f"c1:cls:{second.id}")
    await prompt_sent(app, officer, 7500)
    await officer.text("Đã xử lý xong tại hiện trường.", reply_to_message_id=7500)
    await officer.press(f"c1:rok:{second.id}")  # «Gửi» on the preview
    async with app.sessionmaker() as s:
        closed = await s.get(Case, second.id)
    assert closed is not None and closed.status == "resolved"
    await officer.new_messages()
    return officer, first, closed


async def test_a_group_that_is_not_linked_hears_nothing_and_learns_nothing(
    hotline: Hotline,
) -> None:
    _officer, open_case, closed = await two_cases_one_closed(hotline)
    before, sent = await domain_state(hotline), await outbox_count(hotline)
    stranger = Person(hotline, "66", chat_id="-5555", chat_type="group", name="Kẻ lạ")
    await stranger.command("start")
    await stranger.command("help")
    await stranger.command("report")
    await stranger.text(f"cho xem phản ánh {open_case.code}")
    await stranger.text("trả lời thẻ", reply_to_message_id=7500)  # a prompt id of the ward
    await stranger.photos(JPEG, caption="ảnh")
    await stranger.contact("+84900000000")
    await stranger.location(21.85926, 106.75417)
    await stranger.sticker()
    answers = set()
    for data in (
        f"c1:ack:{open_case.id}",
        f"c1:cls:{closed.id}",
        f"c1:rsw:{open_case.id}:06193",
        "c1:ack:999999",
        "c1:cat:emissions",
        "x" * 300,
    ):
        reply = await stranger.press(data)
        assert reply is not None and reply.callback_alert
        answers.add(reply.callback_text)
    # One and the same answer whatever the data: nothing tells which cases exist or how
    # they stand.
    assert answers == {t("vi", "officer.not_allowed")}
    assert await stranger.new_messages() == []
    assert await outbox_count(hotline) == sent and await domain_state(hotline) == before
    incoming = hotline.settings.media_dir / ".incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []


# ---------------------------------------------------------------- forged button data


async def test_forged_tampered_replayed_and_foreign_button_data_change_nothing(
    hotline: Hotline,
) -> None:
    officer, open_case, closed = await two_cases_one_closed(hotline)
    foreign = await link_group(hotline, "-1003", ward="06193")
    await file_report(Person(hotline, "1003"), photos=0)  # a Kỳ Lừa case...
    async with hotline.sessionmaker() as s:
        other_ward_case = (await s.exec(select(Case).order_by(col(Case.id).desc()))).first()
    assert other_ward_case is not None
    await officer.press(f"c1:rsg:{other_ward_case.id}")  # ...sent on to Cao Lộc
    await prompt_sent(hotline, officer, 7550)
    await officer.text("Cao Lộc", reply_to_message_id=7550)
    await officer.press(f"c1:rsw:{other_ward_case.id}:06193")  # confirmed
    assert (await the_case_by_id(hotline, other_ward_case.id)).ward_code == "06193"
    await officer.new_messages()
    await foreign.new_messages()

    not_allowed = t("vi", "officer.not_allowed")
    stale = t("vi", "officer.stale_button")
    oid, cid = open_case.id, closed.id
    resolved = t("vi", "officer.already_closed", status=t("vi", "status.resolved"))
    presses = [
        (officer, f"c1:ack:{other_ward_case.id}", not_allowed),  # another ward's case
        (officer, "c1:ack:987654", not_allowed),  # no such case
        (officer, f"c1:ack:{'9' * 13}", stale),  # more digits than any id
        (officer, f"c1:ack:{oid}" + "0" * 80, stale),  # over-long
        (officer, f"c1:ack:{oid} OR 1=1", stale),
        (officer, f"c1:ack:-{oid}", stale),
        (officer, "garbage", stale),
        (officer, "", stale),
        (officer, "c1:cat:emissions", stale),  # a citizen's button
        (officer, f"c1:rsw:{oid}:11407", stale),  # a ward of another province
        (officer, f"c1:rsw:{oid}:99999", stale),
        (officer, f"c1:rjr:{oid}:bogus_reason", stale),
        (officer, f"c1:ack:{cid}", resolved),
        (officer, f"c1:rej:{cid}", resolved),
        (foreign, f"c1:ack:{oid}", not_allowed),
        (foreign, f"c1:cls:{oid}", not_allowed),
        (foreign, f"c1:rsw:{oid}:06193", not_allowed),  # pulling the case into its ward
        (foreign, f"c1:rjr:{oid}:duplicate", not_allowed),
        (foreign, f"c1:vfy:{cid}", not_allowed),  # a closed case of another ward: no status
    ]
    before = await domain_state(hotline)
    for person, data, expected in presses:
        reply = await person.press(data)
        assert reply is not None and reply.callback_text == expected, data
        assert reply.callback_alert, data
    assert await domain_state(hotline) == before
    assert await foreign.new_messages() == []
    # The closed case's own group only had its card redrawn (stale buttons removed).
    assert {m.kind for m in await officer.new_messages()} <= {"edit"}

    # A reply in the foreign group to the Kỳ Lừa group's prompt id does nothing either.
    await officer.press(f"c1:cls:{oid}")
    await prompt_sent(hotline, officer, 7600)
    before = await domain_state(hotline)
    await foreign.text("Đã xử lý xong, đóng phản ánh.", reply_to_message_id=7600)
    assert await domain_state(hotline) == before and await foreign.new_messages() == []

    # Replays: the same update again has no effect; the same press again is refused.
    ack = await officer.send("button", button_data=f"c1:ack:{oid}", update_id=990001)
    assert ack is not None and (await the_case_by_id(hotline, oid)).status == "acknowledged"
    before = await domain_state(hotline)
    assert await officer.send("button", button_data=f"c1:ack:{oid}", update_id=990001) is None
    again = await officer.press(f"c1:ack:{oid}")
    assert again is not None and again.callback_alert
    assert again.callback_text == t("vi", "officer.illegal", status=t("vi", "status.acknowledged"))
    assert await domain_state(hotline) == before


async def the_case_by_id(app: Hotline, case_id: int | None) -> Case:
    async with app.sessionmaker() as s:
        case = await s.get(Case, case_id)
    assert case is not None
    return case


# ---------------------------------------------------------------- media on disk


@pytest.fixture
def umask_022() -> Iterator[None]:
    """A usual umask, so files are world-readable unless the store makes them private."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.usefixtures("umask_022")
async def test_media_files_have_random_private_names(hotline: Hotline) -> None:
    officer = await link_group(hotline, "-1001")
    citizen = Person(hotline, "1001", name=NAME)
    await advance_to(citizen, "evidence")
    await citizen.photos(JPEG, JPEG)
    telling = f"0912345678 {NAME} PA20-000001 ../../etc/passwd.pdf"
    ref = FileRef(citizen.fetcher.register(b"%PDF-1.4 report"), "document", 15, None, telling)
    await citizen.send("media", files=(ref,))
    await citizen.press("c1:ev:done")
    await citizen.text("Khói đen bốc ra từ nhà máy gạch mỗi tối, cả khu phố ngạt thở.")
    await citizen.press("c1:nat:recurring")
    await citizen.press("c1:src:skip")
    await citizen.contact(PHONE)
    await citizen.press("c1:sum:ok")
    case = await the_case(hotline)
    await officer.press(f"c1:cls:{case.id}")
    await prompt_sent(hotline, officer, 7700)
    await officer.photos(JPEG, caption="Đã xử lý xong.", reply_to_message_id=7700)
    await officer.press(f"c1:rok:{case.id}")  # «Gửi» on the preview
    assert (await the_case(hotline)).status == "resolved"

    async with hotline.sessionmaker() as s:
        evidence = (await s.exec(select(Evidence))).all()
    media = hotline.settings.media_dir
    files = check_media_dir(media)
    assert len(evidence) == 4 and sorted(e.path for e in evidence) == sorted(files)
    assert any(e.from_officer for e in evidence)
    for name in files:
        assert re.fullmatch(r"[0-9a-f]{32}\.(jpg|bin|pdf)", name), name
        assert leaks(name) == [] and case.code not in name


def check_media_dir(media: Path) -> list[str]:
    """The stored files' names, after checking the directory and files are private."""
    assert oct(media.stat().st_mode & 0o777) == "0o700"
    files = [p for p in media.iterdir() if p.is_file()]
    for path in files:
        assert oct(path.stat().st_mode & 0o777) == "0o600", path.name
    return [p.name for p in files]


# ---------------------------------------------------------------- logs


async def test_database_errors_carry_no_parameters(any_hotline: Hotline) -> None:
    """A failed statement that gets logged must not bring the reporter's data with it."""
    async with db.session_scope(any_hotline.sessionmaker) as s:
        s.add(Reporter(channel="telegram", user_id="1001", chat_id="1001"))
    with pytest.raises(IntegrityError) as failure:
        async with db.session_scope(any_hotline.sessionmaker) as s:
            s.add(
                Reporter(
                    channel="telegram", user_id="1001", chat_id="1001", phone=PHONE, full_name=NAME
                )
            )
    text = str(failure.value)
    assert "INSERT INTO reporter" in text and "hidden" in text.lower()
    assert leaks(text) == []


def all_loggers() -> list[logging.Logger]:
    manager = logging.getLogger().manager
    return [lg for lg in manager.loggerDict.values() if isinstance(lg, logging.Logger)]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger's handlers and every logger's level back as they were."""
    root = logging.getLogger()
    handlers, levels = list(root.handlers), {lg: lg.level for lg in all_loggers()}
    root_level = root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(root_level)
    for logger in all_loggers():
        logger.setLevel(levels.get(logger, logging.NOTSET))


class Everything(logging.Handler):
    """Keeps every record that reaches the root logger, with its arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[str] = []
        self.loggers: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.loggers.add(record.name)
        parts = [record.name, record.levelname, record.getMessage(), repr(record.args)]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        parts += [f"{k}={v!r}" for k, v in vars(record).items() if k in ("case", "chat")]
        self.lines.append(" ".join(parts))


async def remembered(app: Hotline, chat_id: int, message_id: int) -> None:
    """Wait until the sender has recorded a delivered prompt (a reply needs the record)."""
    for _ in range(400):
        async with app.sessionmaker() as s:
            if await services.find_message(s, "telegram", str(chat_id), message_id):
                return
        await asyncio.sleep(0.025)
    raise AssertionError(f"message {message_id} in {chat_id} was never recorded")


@pytest.mark.usefixtures("restore_logging")
async def test_a_whole_flow_at_debug_logs_nothing_personal(
    tmp_path: Path, telegram_library: str
) -> None:
    """The real bot (aiogram, or python-telegram-bot, over HTTP), every logger at DEBUG, a
    report with a shared phone."""
    # Import what logs before setting levels, so that every logger exists already.
    import aiogram  # noqa: F401
    import aiohttp  # noqa: F401
    import aiosqlite  # noqa: F401
    import httpx  # noqa: F401
    import telegram.ext  # noqa: F401

    import bot.channels.telegram_ptb  # noqa: F401
    from bot.demo import issue_link_code, local_hotline
    from bot.fakes.telegram import FakeBotAPI, FakeChat, FakeUser, tiny_png

    json_lines = io.StringIO()
    configure_logging("DEBUG", "json", stream=json_lines)  # HOTLINE_LOG_LEVEL=DEBUG
    # Worse than that: every logger set to DEBUG, as someone debugging might do.
    for logger in all_loggers():
        logger.setLevel(logging.DEBUG)
    everything = Everything()
    logging.getLogger().addHandler(everything)

    citizen = FakeUser(id=1001, first_name="Xuyến Quỳnh", last_name="Hoàng Thị")
    name = "Xuyến Quỳnh Hoàng Thị"  # Telegram's full name: first name, then last name
    officer = FakeUser(id=2001, first_name="Minh")
    ward_group = FakeChat(id=-1001, type="supergroup", title="Kỳ Lừa")
    other_group = FakeChat(id=-1003, type="supergroup", title="Cao Lộc")
    province_group = FakeChat(id=-2000, type="supergroup", title="Sở")
    description = "Nước thải đen ngòm từ xưởng nhuộm chảy thẳng ra suối."

    def has(text: str):  # noqa: ANN202
        return lambda m: text in (m.get("text") or m.get("caption") or "")

    # No pacing of outgoing messages: this test is about what is said, not how fast.
    fast = {
        "send_chat_interval_s": 0,
        "send_group_per_minute": 1000,
        "telegram_library": telegram_library,
    }
    async with FakeBotAPI() as api, local_hotline(api, tmp_path, **fast) as app:

        def press(user: FakeUser, data: str, chat: FakeChat | None = None) -> None:
            chat_id = chat.id if chat else user.id
            message = next(
                m
                for m in reversed(api.chat_messages(chat_id))
                if any(b.get("callback_data") == data for b in api.inline_buttons(m))
            )
            api.press_button(user, message, data, chat=chat)

        for chat, ward in ((ward_group, "06187"), (other_group, "06193"), (province_group, None)):
            api.bot_added_to_group(officer, chat)
            api.send_command(officer, "link", await issue_link_code(app, ward), chat=chat)
            await api.wait_for_message(chat.id, has("✅"))
        api.send_command(officer, "link", "WRONGCODE123", chat=other_group)
        await api.wait_for_message(other_group.id, has("không đúng"))

        api.send_command(citizen, "report")
        await api.wait_for_message(citizen.id, has("Bước 1/7"))
        press(citizen, "c1:cat:wastewater")
        await api.wait_for_message(citizen.id, has("Bước 2/7"))
        api.send_location(citizen, 21.85926, 106.75417)
        await api.wait_for_message(citizen.id, lambda m: "c1:ward:06187" in str(m))
        press(citizen, "c1:ward:06187")
        await api.wait_for_message(citizen.id, has("Bước 3/7"))
        api.send_photo(citizen, tiny_png(8, 8))
        await api.wait_for_message(citizen.id, has("Đã nhận"))
        press(citizen, "c1:ev:done")
        await api.wait_for_message(citizen.id, has("Bước 4/7"))
        api.send_text(citizen, description)
        await api.wait_for_message(citizen.id, has("Bước 5/7"))
        press(citizen, "c1:nat:now")
        await api.wait_for_message(citizen.id, has("Bước 6/7"))
        press(citizen, "c1:src:skip")
        await api.wait_for_message(citizen.id, has("Bước 7/7"))
        api.send_contact(citizen, PHONE)
        await api.wait_for_message(citizen.id, lambda m: "c1:sum:ok" in str(m))
        press(citizen, "c1:sum:ok")
        filed = await api.wait_for_message(citizen.id, has("Mã phản ánh"))
        code = re.findall(r"PA20-\d{6}", filed["text"])[0]
        card = await api.wait_for_message(ward_group.id, has(code))
        assert PHONE in card["text"] and name not in card["text"]  # the phone alone

        case_id = (await the_case(app)).id
        press(officer, f"c1:ack:{case_id}", chat=ward_group)
        await api.wait_for_message(citizen.id, has("tiếp nhận"))
        press(officer, f"c1:cls:{case_id}", chat=ward_group)
        prompt = await api.wait_for_message(ward_group.id, has("TRẢ LỜI"))
        await remembered(app, ward_group.id, prompt["message_id"])
        api.send_text(
            officer,
            "Đã kiểm tra, xưởng đã dừng xả thải.",
            chat=ward_group,
            reply_to_message_id=prompt["message_id"],
        )
        await api.wait_for_message(ward_group.id, has("Xem lại trước khi gửi"))
        press(officer, f"c1:rok:{case_id}", chat=ward_group)  # «Gửi»
        await api.wait_for_message(citizen.id, has("Kết quả"))
        api.send_text(officer, f"phản ánh {code} của ai?", chat=province_group)
        await api.wait_idle()

        # What Telegram received: the contact went to the reporter and the ward group only.
        for chat in (other_group, province_group):
            seen = json.dumps(api.chat_messages(chat.id), ensure_ascii=False)
            assert leaks(seen, name=name) == [], chat.title
        assert all(code not in (m.get("text") or "") for m in api.chat_messages(other_group.id))

    logged = "\n".join(everything.lines)
    # The capture works: it holds our records and libraries' DEBUG records.
    assert code in logged and any(" DEBUG " in line for line in everything.lines)
    assert leaks(logged, name=name) == []
    assert description not in logged and "xưởng đã dừng" not in logged
    records = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert any(r.get("case") == code for r in records)
    assert leaks(json_lines.getvalue(), name=name) == []
