"""Seeded fault injection, end to end: nothing lost, nothing repeated.

The whole bot (on each Telegram runtime, aiogram and python-telegram-bot: polling,
handlers, SQLite, the outbox sender) serves citizens who report in parallel while the
fake Bot API fails a fifth of the send/edit calls at random with 5xx, 429, timeouts and
dropped connections, and enforces Telegram's flood limits (scaled down in time).
scripts/fault_campaign.py runs the same campaign, larger, and prints its figures."""

from __future__ import annotations

from pathlib import Path

from scripts.fault_campaign import run_campaign


async def test_every_card_and_notice_arrives_exactly_once_despite_faults(
    tmp_path: Path, telegram_library: str
) -> None:
    result = await run_campaign(
        reports=8, fault_rate=0.2, seed=11, workdir=tmp_path, library=telegram_library
    )
    print(result.report())
    # The faults did happen, of every kind, and the limits held without a 429.
    assert set(result.faults) >= {"5xx", "429", "timeout", "disconnect"}, result.faults
    assert result.rate_limited == 0
    assert result.cases == result.reports == 8
    assert result.cards_delivered == result.cards_expected == 8
    assert result.notices_delivered == result.notices_expected
    assert result.losses == [] and result.duplicates == []
    assert set(result.outbox) == {"sent"}, result.outbox
