"""A fake Zalo Bot API server (tests and `hotline demo --channel zalo`); see server.py."""

from bot.fakes.zalo.server import FakeZaloAPI, Sent

__all__ = ["FakeZaloAPI", "Sent"]
