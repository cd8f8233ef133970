"""Show, as text, what one whole report looks like: the officers' card (as it stands at the
end, with its buttons) and every message the citizen got, in order.

Plays `hotline demo` (the real bot against the fake Telegram Bot API: a citizen files a
report with a photo, an officer acknowledges it, answers the close prompt, checks the
preview and presses «Gửi») and prints the two chats.

Usage: python scripts/show_report.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import demo  # noqa: E402
from bot.fakes.telegram import FakeBotAPI  # noqa: E402

CITIZEN, GROUP = 1001, -100200300  # the demo's citizen and officer group


def _buttons(api: FakeBotAPI, message: dict[str, Any]) -> str:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    if not rows:
        return ""
    return "\n".join("  " + " | ".join(f"[{b['text']}]" for b in row) for row in rows)


def _text(message: dict[str, Any]) -> str:
    if "photo" in message:
        return f"[ảnh] {message.get('caption') or ''}".rstrip()
    if "location" in message:
        return "[vị trí trên bản đồ]"
    return message.get("text") or message.get("caption") or "[…]"


class _ShowingAPI(FakeBotAPI):
    """The fake Bot API that prints the two chats before it closes."""

    async def __aexit__(self, *exc: object) -> None:
        card = next(
            (
                m
                for m in self.chat_messages(GROUP)
                if m.get("from", {}).get("is_bot") and "PA20-" in (m.get("text") or "")
            ),
            None,
        )
        print("\n=============== THE OFFICERS' CARD (as it stands at the end)")
        if card is not None:
            print(card["text"])
            print(_buttons(self, card) or "  (no buttons)")
        print("\n=============== EVERY MESSAGE THE CITIZEN GOT")
        for n, message in enumerate(
            (m for m in self.chat_messages(CITIZEN) if m.get("from", {}).get("is_bot")), 1
        ):
            print(f"--- {n}")
            print(_text(message))
            buttons = _buttons(self, message)
            if buttons:
                print(buttons)
        print("\n=============== THE OFFICERS' GROUP, IN ORDER")
        for message in self.chat_messages(GROUP):
            who = "bot" if message.get("from", {}).get("is_bot") else "officer"
            print(f"--- {who}: {_text(message)}")
            buttons = _buttons(self, message)
            if buttons:
                print(buttons)
        await super().__aexit__(*exc)  # type: ignore[arg-type]


def main() -> int:
    demo.FakeBotAPI = _ShowingAPI  # type: ignore[misc]
    return asyncio.run(demo.run_demo(verbose=False))


if __name__ == "__main__":
    raise SystemExit(main())
