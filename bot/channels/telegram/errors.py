"""Telegram's errors, neutral, and what each means for an outbox row (written once).

Each runtime's `TelegramOps` raises these from its client library's exceptions, so both
runtimes sort failures the same way: timeouts, connection errors and 5xx answers are
transient (RetryLater, with backoff); a 429 is transient too and carries Telegram's
retry_after; "bot was blocked by the user", "user is deactivated", "chat not found" and
being kicked from a group mean the chat is out of reach for good
(PermanentFailure(unreachable=True)); other refusals are permanent.
"""

from __future__ import annotations

from typing import Any

from bot.outbox import PermanentFailure, RetryLater


class TelegramApiError(Exception):
    """The Bot API refused a call: its HTTP-like code, description and retry_after."""

    def __init__(self, code: int, description: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def mentions(self, *phrases: str) -> bool:
        """Whether the description says any of these (Telegram's words, lower case)."""
        text = self.description.lower()
        return any(phrase in text for phrase in phrases)


class TelegramNetworkError(Exception):
    """No answer: a timeout, a dropped connection, a refused connection."""


class BotTokenRejected(RuntimeError):
    """Telegram refused the bot token at start (401, or 404 for a malformed one).

    Its message names the setting to fix and never the token (a secret)."""

    def __init__(self, code: int) -> None:
        super().__init__(
            f"Telegram rejected the bot token ({code}): check HOTLINE_BOT_TOKEN "
            "(a token from @BotFather) and HOTLINE_TELEGRAM_API_URL."
        )
        self.code = code


def classify(
    error: BaseException, progress: dict[str, Any] | None = None
) -> RetryLater | PermanentFailure | None:
    """What a failed call means for its row (None: not a Telegram error)."""
    if isinstance(error, TelegramApiError):
        code, text = error.code, error.description
        if code == 429:
            return RetryLater(
                f"429 {text}",
                float(error.retry_after or 1.0),
                rate_limited=True,
                progress=progress,
            )
        if code in (403, 404):
            # blocked by the user, user is deactivated, kicked from the group, no such chat
            return PermanentFailure(f"{code} {text}", unreachable=True)
        if code == 400:
            return PermanentFailure(f"400 {text}", unreachable=error.mentions("chat not found"))
        if code == 413:
            return PermanentFailure(f"413 {text}")
        if code >= 500:
            return RetryLater(f"5xx {text}", progress=progress)
        return None  # 401, 409, a migrated group...: retried as unexpected, then given up
    if isinstance(error, TelegramNetworkError | TimeoutError | OSError):
        # A timeout may hide a message Telegram did accept; the Bot API has no idempotency
        # key, so the retry may repeat it (rare; the alternative loses it).
        return RetryLater(f"network: {error}", progress=progress, maybe_delivered=True)
    return None
