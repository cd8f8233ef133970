"""A seeded fault-injection campaign: many citizens report at once over a faulty Bot API.

    python scripts/fault_campaign.py [--reports 30] [--fault-rate 0.2] [--seed 7]
                                     [--library aiogram|ptb]

The whole bot runs (on aiogram or python-telegram-bot: --library; polling, the handlers,
SQLite, the outbox sender) against the fake Bot API, which fails `--fault-rate` of the
send/edit calls at random (5xx, 429, timeouts where it holds the request past the
client's timeout, dropped connections; none of them applies the call) and enforces
Telegram's flood limits scaled down 50 times (the sender's limiter is scaled the same
way). Citizens file their reports in parallel, each waiting for the bot's answer before
the next step; officers of three ward groups acknowledge two cases in three and close
half of those. Then it counts what arrived: each case's card must reach its ward group
once, each reporter notice (case code, acknowledged, resolved) must arrive once, and the
outbox must end with nothing pending or failed. Exit status 0 when nothing was lost or
repeated.

tests/test_faults.py runs the same campaign, smaller.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlmodel import col, select  # noqa: E402

from bot.app import Hotline  # noqa: E402
from bot.channels.telegram.delivery import TelegramOps, TelegramTransport  # noqa: E402
from bot.demo import issue_link_code, local_hotline  # noqa: E402
from bot.fakes.telegram import FAULT_KINDS, FakeBotAPI, FakeChat, FakeUser  # noqa: E402
from bot.ratelimit import RateLimiter  # noqa: E402
from models.tables import Case, MessageRef, Outbox  # noqa: E402

SCALE = 1 / 50  # Telegram's flood limits, 50 times faster
KY_LUA = (21.85926, 106.75417)
# The wards suggested for a pin at Kỳ Lừa's centroid, each with its officer group.
WARDS = {"06187": -2001, "05986": -2002, "05983": -2003}
OFFICER = FakeUser(9001, first_name="Cán bộ", last_name="Minh", language_code="vi")
STEP_TIMEOUT_S = 60.0


@dataclass
class CampaignResult:
    """What a campaign did and what arrived."""

    reports: int
    seed: int
    fault_rate: float
    cases: int = 0
    api_calls: int = 0
    message_calls: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    cards_expected: int = 0
    cards_delivered: int = 0
    notices_expected: int = 0
    notices_delivered: int = 0
    losses: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    outbox: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0

    @property
    def clean(self) -> bool:
        """Nothing lost, nothing repeated, nothing left undelivered."""
        undelivered = sum(n for status, n in self.outbox.items() if status != "sent")
        return not self.losses and not self.duplicates and not undelivered

    def report(self) -> str:
        """The figures, one per line."""
        faults = ", ".join(f"{kind} {self.faults.get(kind, 0)}" for kind in FAULT_KINDS)
        lines = [
            f"seed {self.seed}, fault rate {self.fault_rate:.0%}, {self.elapsed_s:.1f} s",
            f"reports filed:           {self.cases} of {self.reports}",
            f"API calls:               {self.api_calls} ({self.message_calls} send/edit)",
            f"faults injected:         {sum(self.faults.values())} ({faults})",
            f"429s under the limits:   {self.rate_limited}",
            f"cards delivered:         {self.cards_delivered} of {self.cards_expected}",
            f"notices delivered:       {self.notices_delivered} of {self.notices_expected}",
            f"losses:                  {len(self.losses)}",
            f"duplicates:              {len(self.duplicates)}",
            "outbox:                  "
            + ", ".join(f"{status} {n}" for status, n in sorted(self.outbox.items())),
        ]
        lines += [f"  lost: {item}" for item in self.losses]
        lines += [f"  repeated: {item}" for item in self.duplicates]
        return "\n".join(lines)


def _has(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: text in (m.get("text") or m.get("caption") or "")


def _button_message(api: FakeBotAPI, chat_id: int, data: str) -> dict[str, Any]:
    return next(
        m
        for m in reversed(api.chat_messages(chat_id))
        if any(b.get("callback_data") == data for b in api.inline_buttons(m))
    )


async def _press(api: FakeBotAPI, user: FakeUser, data: str, chat: FakeChat | None = None) -> None:
    chat_id = chat.id if chat else user.id
    api.press_button(user, _button_message(api, chat_id, data), data, chat=chat)


def _pin(index: int) -> tuple[float, float]:
    """Each citizen's own spot near Kỳ Lừa's centroid (a pin tells the cases apart)."""
    return KY_LUA[0] + index * 1e-5, KY_LUA[1]


async def _file_report(api: FakeBotAPI, citizen: FakeUser, index: int, ward: str) -> str:
    """One citizen's report by GPS, step by step; returns the case code."""
    uid = citizen.id

    async def expect(predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return await api.wait_for_message(uid, predicate, timeout=STEP_TIMEOUT_S)

    api.send_command(citizen, "report")
    await expect(_has("Bước 1/7"))
    await _press(api, citizen, "c1:cat:wastewater")
    await expect(_has("Bước 2/7"))
    api.send_location(citizen, *_pin(index))
    await expect(lambda m: f"c1:ward:{ward}" in str(m))
    await _press(api, citizen, f"c1:ward:{ward}")
    await expect(_has("Bước 3/7"))
    await _press(api, citizen, "c1:ev:done")
    await expect(_has("Bước 4/7"))
    api.send_text(citizen, f"Nước thải đen từ xưởng nhuộm số {uid} chảy thẳng ra suối.")
    await expect(_has("Bước 5/7"))
    await _press(api, citizen, "c1:nat:now")
    await expect(_has("Bước 6/7"))
    await _press(api, citizen, "c1:src:skip")
    await expect(_has("Bước 7/7"))
    api.press_reply_button(citizen, "🙈 Ẩn danh")
    await expect(lambda m: "c1:sum:ok" in str(m))
    await _press(api, citizen, "c1:sum:ok")
    filed = await expect(lambda m: "Mã phản ánh" in m.get("text", "") or "c1:dup:new" in str(m))
    if "c1:dup:new" in str(filed):  # "already reported nearby?": no, it is a new one
        await _press(api, citizen, "c1:dup:new")
        filed = await expect(_has("Mã phản ánh"))
    match = re.search(r"PA20-\d{6}", filed["text"])
    if match is None:
        raise AssertionError(f"no case code in {filed['text']!r}")
    return match.group(0)


async def _recorded(hotline: Hotline, case_id: int, purpose: str, message_id: int) -> bool:
    async with hotline.sessionmaker() as session:
        stmt = select(MessageRef).where(
            MessageRef.case_id == case_id,
            MessageRef.purpose == purpose,
            MessageRef.message_id == message_id,
        )
        return (await session.exec(stmt)).first() is not None


async def _wait_recorded(
    api: FakeBotAPI, hotline: Hotline, case_id: int, purpose: str, message_id: int
) -> None:
    """Wait until the bot knows it sent this message: a person reacts only after seeing it,
    which takes longer than the sender takes to record what it sent."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not await _recorded(hotline, case_id, purpose, message_id):
        if time.monotonic() > deadline:
            raise TimeoutError(f"case {case_id}: the {purpose} was never recorded as sent")
        await asyncio.sleep(0.02)


async def _handle_case(
    api: FakeBotAPI, hotline: Hotline, citizen: FakeUser, group: FakeChat, code: str, plan: str
) -> None:
    """The ward's officer acts on the case: nothing, acknowledge, or acknowledge and close."""

    def card() -> dict[str, Any] | None:
        return next(
            (
                m
                for m in api.chat_messages(group.id)
                if code in m.get("text", "") and "c1:ack:" in str(m.get("reply_markup"))
            ),
            None,
        )

    found = await api.wait_until(card, timeout=STEP_TIMEOUT_S, what=f"the card of {code}")
    case_id = int(re.findall(r"c1:ack:(\d+)", str(found["reply_markup"]))[0])
    if plan == "none":
        return
    await _wait_recorded(api, hotline, case_id, "card", found["message_id"])
    api.press_button(OFFICER, found, f"c1:ack:{case_id}", chat=group)
    await api.wait_for_message(
        citizen.id, _has(f"{code} đã được cán bộ tiếp nhận"), timeout=STEP_TIMEOUT_S
    )
    if plan == "ack":
        return

    def latest_card() -> dict[str, Any] | None:
        return next(
            (
                m
                for m in api.chat_messages(group.id)
                if m["message_id"] == found["message_id"] and f"c1:cls:{case_id}" in str(m)
            ),
            None,
        )

    current = await api.wait_until(latest_card, timeout=STEP_TIMEOUT_S, what="the edited card")
    api.press_button(OFFICER, current, f"c1:cls:{case_id}", chat=group)

    def prompt() -> dict[str, Any] | None:
        return next(
            (
                m
                for m in api.chat_messages(group.id)
                if f"Đóng phản ánh {code}" in m.get("text", "")
            ),
            None,
        )

    asked = await api.wait_until(prompt, timeout=STEP_TIMEOUT_S, what=f"the prompt of {code}")
    await _wait_recorded(api, hotline, case_id, "prompt", asked["message_id"])
    api.send_text(
        OFFICER,
        f"Đã kiểm tra {code}: xưởng đã dừng xả thải.",
        chat=group,
        reply_to_message_id=asked["message_id"],
    )
    await api.wait_for_message(
        citizen.id, _has(f"Phản ánh {code} đã được xử lý"), timeout=STEP_TIMEOUT_S
    )


async def _citizen(
    api: FakeBotAPI, hotline: Hotline, index: int, plan: str
) -> tuple[FakeUser, str, str]:
    citizen = FakeUser(100_000 + index, first_name=f"Dân {index}", language_code="vi")
    ward = list(WARDS)[index % len(WARDS)]
    group = FakeChat(WARDS[ward], type="supergroup")
    code = await _file_report(api, citizen, index, ward)
    await _handle_case(api, hotline, citizen, group, code, plan)
    return citizen, code, plan


def _sent(api: FakeBotAPI, chat_id: int) -> list[dict[str, Any]]:
    """The parameters of every send* call the fake applied in a chat (edits left out)."""
    return [
        c.params
        for c in api.calls
        if c.ok and c.method.startswith("send") and c.chat_id == chat_id
    ]


def _count(api: FakeBotAPI, chat_id: int, marker: str, extra: str = "") -> int:
    return sum(
        1
        for params in _sent(api, chat_id)
        if marker in str(params.get("text") or "") and extra in str(params.get("reply_markup"))
    )


def _repeats(api: FakeBotAPI, chat_id: int) -> list[str]:
    """Messages that reached a chat more than once (same text and buttons)."""
    counts = Counter(
        (
            str(m.get("text") or m.get("caption") or ""),
            str(m.get("reply_markup")),
            str(m.get("location")),
        )
        for m in api.chat_messages(chat_id)
        if m.get("from", {}).get("is_bot")
    )
    return [
        f"chat {chat_id}: {text[:60] or where!r} x{n}"
        for (text, _, where), n in counts.items()
        if n > 1
    ]


def _short_timeout_ops(api: FakeBotAPI, library: str) -> tuple[TelegramOps, Any]:
    """The runtime's Bot API calls on a Bot of their own; and how to close it."""
    if library == "ptb":
        from bot.channels.telegram_ptb.ops import PtbOps, close_bot, make_bot

        ptb_bot = make_bot(api.token, api.base_url)
        return PtbOps(ptb_bot), lambda: close_bot(ptb_bot)
    from bot.channels.telegram_aiogram import AiogramOps

    bot = api.create_bot()
    return AiogramOps(bot), bot.session.close


async def run_campaign(
    reports: int = 30,
    fault_rate: float = 0.2,
    seed: int = 7,
    workdir: Path | None = None,
    library: str = "aiogram",
) -> CampaignResult:
    """Run the campaign in `workdir` (a temporary directory by default) on a Telegram
    runtime (aiogram or ptb)."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="hotline-faults-") as tmp:
            return await run_campaign(reports, fault_rate, seed, Path(tmp), library)
    result = CampaignResult(reports=reports, seed=seed, fault_rate=fault_rate)
    plans = random.Random(seed).choices(["none", "ack", "close"], k=reports)
    started = time.monotonic()
    async with (
        FakeBotAPI() as api,
        local_hotline(api, workdir, telegram_library=library) as hotline,
    ):
        # The sender as in production, with time scaled: limits 50 times faster, short
        # timeouts and backoff (and the fake holds a "timed out" request past the timeout).
        ops, close_ops = _short_timeout_ops(api, library)
        hotline.add_transport(
            TelegramTransport(ops, hotline.media, request_timeout=2.0, upload_timeout=2.0)
        )
        sender = hotline.sender
        sender.limiter = RateLimiter(
            chat_interval_s=1.0 * SCALE,
            chat_burst=10,
            group_limit=(20, 60.0 * SCALE),
            global_limit=(30, 1.0 * SCALE),
        )
        sender.concurrency = 8
        sender.backoff_base_s, sender.max_backoff_s = 0.05, 0.4
        api.enforce_rate_limits(
            per_chat_interval=1.0 * SCALE,
            per_chat_burst=10,
            per_group_per_window=(20, 60.0 * SCALE),
            global_per_window=(30, 1.0 * SCALE),
        )
        api.fault_hold_s = 10.0
        api.fault_retry_after = 1
        api.fault_kinds = dict.fromkeys(FAULT_KINDS, 1.0)
        api.fault_seed = seed
        try:
            for ward, chat_id in WARDS.items():
                group = FakeChat(chat_id, type="supergroup", title=f"Tổ môi trường {ward}")
                api.bot_added_to_group(OFFICER, group)
                api.send_command(OFFICER, "link", await issue_link_code(hotline, ward), chat=group)
                await api.wait_for_message(chat_id, _has("✅"), timeout=STEP_TIMEOUT_S)
            api.fault_rate = fault_rate
            outcomes = await asyncio.gather(
                *(_citizen(api, hotline, i, plan) for i, plan in enumerate(plans))
            )
            await _settle(hotline)
            await api.wait_idle(quiet=0.3, timeout=STEP_TIMEOUT_S)
        finally:
            api.fault_rate = 0.0
            await close_ops()
        _tally(api, result, outcomes)
        async with hotline.sessionmaker() as session:
            result.cases = len((await session.exec(select(Case))).all())
            statuses = (await session.exec(select(Outbox.status))).all()
            result.outbox = Counter(str(s) for s in statuses)
    result.elapsed_s = time.monotonic() - started
    return result


async def _settle(hotline: Hotline) -> None:
    """Wait until the outbox has nothing pending or being sent."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        async with hotline.sessionmaker() as session:
            busy = (
                await session.exec(
                    select(Outbox.id).where(col(Outbox.status).in_(["pending", "sending"]))
                )
            ).first()
        if busy is None:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the outbox did not settle")
        await asyncio.sleep(0.05)


def _tally(
    api: FakeBotAPI, result: CampaignResult, outcomes: list[tuple[FakeUser, str, str]]
) -> None:
    result.api_calls = len(api.calls)
    result.message_calls = sum(1 for c in api.calls if c.method.startswith(("send", "edit")))
    result.faults = Counter(api.faults)
    result.rate_limited = api.rate_limited
    for citizen, code, plan in outcomes:
        ward = list(WARDS)[(citizen.id - 100_000) % len(WARDS)]
        group = WARDS[ward]
        result.cards_expected += 1
        cards = _count(api, group, code, "c1:ack:")
        result.cards_delivered += min(cards, 1)
        if cards != 1:
            (result.losses if cards == 0 else result.duplicates).append(f"card of {code} x{cards}")
        index = citizen.id - 100_000
        pins = sum(
            1
            for params in _sent(api, group)
            if (params.get("latitude"), params.get("longitude")) == _pin(index)
        )
        if pins != 1:
            (result.losses if pins == 0 else result.duplicates).append(f"pin of {code} x{pins}")
        notices = [f"Mã phản ánh: {code}"]
        if plan in ("ack", "close"):
            notices.append(f"{code} đã được cán bộ tiếp nhận")
        if plan == "close":
            notices.append(f"Phản ánh {code} đã được xử lý")
        for notice in notices:
            result.notices_expected += 1
            got = _count(api, citizen.id, notice)
            result.notices_delivered += min(got, 1)
            if got != 1:
                (result.losses if got == 0 else result.duplicates).append(f"{notice!r} x{got}")
        result.duplicates += _repeats(api, citizen.id)
    for chat_id in WARDS.values():
        result.duplicates += _repeats(api, chat_id)


def main(argv: list[str] | None = None) -> int:
    """Run the campaign and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=30, help="citizens reporting at once")
    parser.add_argument("--fault-rate", type=float, default=0.2, help="share of failed calls")
    parser.add_argument("--seed", type=int, default=7, help="seed of faults and plans")
    parser.add_argument(
        "--library", choices=("aiogram", "ptb"), default="aiogram", help="Telegram runtime"
    )
    parser.add_argument("--verbose", action="store_true", help="show the bot's warnings")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR)
    result = asyncio.run(
        run_campaign(args.reports, args.fault_rate, args.seed, library=args.library)
    )
    print(result.report())
    return 0 if result.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
