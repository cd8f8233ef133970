"""What tests and the demo read back from the fake Bot API."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass
from bot.fakes.telegram.models import ApiCall, _describe_buttons, _summary
from bot.fakes.telegram.state import FakeState


class Observation(FakeState):
    """What tests and the demo read: messages, keyboards, calls, waiting."""

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Return the current state of the bot's (non-deleted) messages in a chat, in order."""
        # reply_markup holds whatever the bot attached, reply keyboards included (the API
        # itself only echoes inline keyboards); texts are as the user sees them, i.e. with
        # parse_mode markup converted to entities.
        return [
            copy.deepcopy(e.message)
            for e in self._log.get(chat_id, [])
            if e.from_bot and not e.deleted
        ]

    def current_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """Return the reply keyboard currently shown in a chat, if any."""
        return copy.deepcopy(self._keyboards.get(chat_id))

    def file_data(self, file_id: str) -> bytes:
        """Return the bytes behind a file_id the fake created."""
        return self._files[file_id].data

    @staticmethod
    def inline_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
        """Return a message's inline buttons, flattened."""
        markup = message.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    @staticmethod
    def button_data(message: dict[str, Any], text: str) -> str:
        """Return callback_data of the first inline button whose text contains ``text``."""
        for button in Observation.inline_buttons(message):
            if text in button.get("text", "") and button.get("callback_data") is not None:
                return str(button["callback_data"])
        raise ValueError(f"no inline button containing {text!r}: {_describe_buttons(message)}")

    @property
    def long_poll_pending(self) -> bool:
        """Whether a getUpdates long poll is currently waiting."""
        return any(not w.done() for w in self._poll_waiters)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Return queued updates not yet confirmed by an offset."""
        return copy.deepcopy(self._updates)

    def transcript(self, chat_id: int) -> str:
        """Return a readable listing of a chat: user and bot messages in order."""
        lines = []
        for entry in self._log.get(chat_id, []):
            msg = entry.message
            who = "bot" if entry.from_bot else msg.get("from", {}).get("first_name", "user")
            flags = " (deleted)" if entry.deleted else ""
            flags += " (edited)" if "edit_date" in msg else ""
            lines.append(f"  #{msg['message_id']} {who}{flags}: {_summary(msg)}")
        return "\n".join(lines) or "  (no messages)"

    def mark_read(self, chat_id: int) -> None:
        """Move the chat's read cursor past every message sent so far."""
        self._message_cursor[chat_id] = len(self._log.get(chat_id, []))

    async def wait_until(
        self,
        condition: Callable[[], Any],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        what: str = "condition",
    ) -> Any:
        """Wait until ``condition()`` returns a truthy value and return it."""
        return await self._wait(lambda: condition() or None, timeout, lambda: f"{what} not met")

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Return the next unread bot message in a chat matching ``predicate``."""
        # Each chat has a read cursor: a returned message and any unmatched ones before it
        # count as read, so successive calls step through the conversation.

        def check() -> dict[str, Any] | None:
            entries = self._log.get(chat_id, [])
            for index in range(self._message_cursor.get(chat_id, 0), len(entries)):
                entry = entries[index]
                if not entry.from_bot or entry.deleted:
                    continue
                if predicate is None or predicate(copy.deepcopy(entry.message)):
                    self._message_cursor[chat_id] = index + 1
                    return copy.deepcopy(entry.message)
            return None

        def explain() -> str:
            cursor = self._message_cursor.get(chat_id, 0)
            return (
                f"no {'matching ' if predicate else ''}bot message in chat {chat_id} after "
                f"the first {cursor} log entries within {timeout}s.\n"
                f"Chat transcript:\n{self.transcript(chat_id)}\n{self._failures_text()}"
            )

        return await self._wait(check, timeout, explain)

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> ApiCall:
        """Return the next call of ``method`` (after those returned before) matching it."""
        key = method.lower()

        def check() -> ApiCall | None:
            for index in range(self._call_cursor.get(key, 0), len(self.calls)):
                call = self.calls[index]
                if call.method.lower() == key and (predicate is None or predicate(call)):
                    self._call_cursor[key] = index + 1
                    return call
            return None

        def explain() -> str:
            seen = [str(c) for c in self.calls if c.method.lower() == key][-10:]
            listing = "\n".join(f"  {s}" for s in seen) or "  (none)"
            return f"no matching {method} call within {timeout}s; recent calls of it:\n{listing}"

        return await self._wait(check, timeout, explain)

    async def wait_idle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until all queued updates were fetched and no call arrived for ``quiet`` s."""
        deadline = time.monotonic() + timeout
        while True:
            unfetched = self._unfetched()
            now = time.monotonic()
            idle_for = now - self._last_activity
            if not unfetched and self._inflight == 0 and idle_for >= quiet:
                return
            if now >= deadline:
                raise TimeoutError(
                    f"bot not idle after {timeout}s: {unfetched} update(s) never fetched "
                    f"(is the bot polling?), {self._inflight} call(s) in flight, "
                    f"last activity {idle_for:.2f}s ago"
                )
            await asyncio.sleep(min(max(quiet - idle_for, 0.01), 0.05, deadline - now))
