"""What is python-telegram-bot's own in the ptb runtime (the rest: tests/test_channel_contract.py).

Its error classes made neutral, one by one (the contract suite drives the common ones
through the real library); statuses it has no class for (413, 5xx) through the real
library against the fake Bot API; and that the Application, run without persistence,
keeps no record of the chats and people it saw.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from bot.app import Hotline
from bot.channels.telegram.errors import TelegramApiError, TelegramNetworkError, classify
from bot.channels.telegram_ptb import PtbChannel
from bot.channels.telegram_ptb.ops import neutral
from bot.fakes.telegram import FakeBotAPI, FakeUser
from bot.inbox import InboxItem
from bot.outbox import PermanentFailure, RetryLater, no_pace
from models.tables import Outbox
from tests.conftest import make_settings, migrate


def _from_httpx(error: Exception) -> NetworkError:
    try:
        raise NetworkError(f"httpx.{type(error).__name__}: {error}") from error
    except NetworkError as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "code", "outcome"),
    [
        (RetryAfter(5), 429, "retry_after"),
        (Forbidden("Forbidden: bot was blocked by the user"), 403, "unreachable"),
        (InvalidToken("Unauthorized"), 401, None),
        (InvalidToken("Not Found"), 404, "unreachable"),
        (BadRequest("Bad Request: chat not found"), 400, "unreachable"),
        (BadRequest("Bad Request: message is too long"), 400, "give_up"),
        (Conflict("Conflict: terminated by other getUpdates request"), 409, None),
        (NetworkError("Request Entity Too Large (413)"), 413, "give_up"),
        (NetworkError("Internal Server Error"), 500, "retry"),
        (NetworkError("Bad Gateway"), 500, "retry"),
        (TimedOut("Timed out"), None, "maybe_delivered"),
        (_from_httpx(httpx.RemoteProtocolError("disconnected")), None, "maybe_delivered"),
        (NetworkError("Unknown error in HTTP implementation: boom"), None, "maybe_delivered"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_each_error_class_is_made_neutral(
    error: Exception, code: int | None, outcome: str | None
) -> None:
    made = neutral(error)  # type: ignore[arg-type]
    if code is None:
        assert isinstance(made, TelegramNetworkError)
    else:
        assert isinstance(made, TelegramApiError) and made.code == code
    sorted_ = classify(made)
    if outcome is None:
        assert sorted_ is None  # retried as unexpected, then given up (as on aiogram)
    elif outcome == "retry_after":
        assert isinstance(sorted_, RetryLater) and sorted_.rate_limited and sorted_.delay == 5
    elif outcome == "unreachable":
        assert isinstance(sorted_, PermanentFailure) and sorted_.unreachable
    elif outcome == "give_up":
        assert isinstance(sorted_, PermanentFailure) and not sorted_.unreachable
    elif outcome == "retry":
        assert isinstance(sorted_, RetryLater) and not sorted_.maybe_delivered
    else:
        assert isinstance(sorted_, RetryLater) and sorted_.maybe_delivered


def test_a_migrated_group_is_not_sorted_as_on_aiogram() -> None:
    error = ChatMigrated(-100123)
    assert neutral(error) is error


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[FakeBotAPI, PtbChannel, Hotline]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await migrate(url)
    async with FakeBotAPI() as api:
        app = Hotline(make_settings(url, tmp_path / "media", bot_token=api.token))
        app.media.ensure_dir()
        channel = PtbChannel(app, api.token, api.base_url)
        await channel.start()
        try:
            yield api, channel, app
        finally:
            await channel.close()
            await app.close()


async def test_statuses_without_a_class_of_their_own_through_the_library(
    running: tuple[FakeBotAPI, PtbChannel, Hotline],
) -> None:
    """413 and 5xx come as a bare NetworkError: sorted by the status, as on aiogram."""
    api, channel, _ = running
    citizen = FakeUser(id=1001, first_name="Lan")
    api.send_command(citizen, "start")
    row = Outbox(id=1, channel="telegram", chat_id="1001", kind="message", payload={"text": "x"})
    api.fail_next("sendMessage", status=413, description="Request Entity Too Large")
    with pytest.raises(PermanentFailure) as gone:
        await channel.deliver(row, [], no_pace)
    assert not gone.value.unreachable and "413" in str(gone.value)
    api.fail_next("sendMessage", status=500, description="Internal Server Error")
    with pytest.raises(RetryLater) as later:
        await channel.deliver(row, [], no_pace)
    assert not later.value.rate_limited and not later.value.maybe_delivered


async def test_the_application_keeps_no_record_of_chats_and_people(
    running: tuple[FakeBotAPI, PtbChannel, Hotline],
) -> None:
    api, channel, _ = running
    for n in range(5):
        raw = api.send_command(FakeUser(id=5000 + n, first_name=f"Dân {n}"), "help")
        assert await channel.handle([InboxItem(raw["update_id"], raw, str(5000 + n), None, 1)])
    application = channel.application
    assert dict(application.chat_data) == {} and dict(application.user_data) == {}
    for name in (
        "_chat_ids_to_be_updated_in_persistence",
        "_user_ids_to_be_updated_in_persistence",
    ):
        assert getattr(application, name) == set(), name
