"""A fake Telegram Bot API server for end-to-end tests, the demo and the scripts.

Split by concern: `server` (routes and the `FakeBotAPI` class), `state` (chats, messages,
files, updates), `people` (simulated users), `observe` (what tests read back), `methods`
(the Bot API methods), `html` (Telegram's entity parser), `faults` (injected faults),
`limits` (flood control), `files` (stored files, a tiny PNG), `models` (public models).
"""

from bot.fakes.telegram.files import tiny_png
from bot.fakes.telegram.models import FAULT_KINDS, ApiCall, ApiError, FakeChat, FakeUser
from bot.fakes.telegram.server import FakeBotAPI

__all__ = ["FAULT_KINDS", "ApiCall", "ApiError", "FakeBotAPI", "FakeChat", "FakeUser", "tiny_png"]
