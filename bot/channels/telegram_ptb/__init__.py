"""The Telegram channel on python-telegram-bot 22: an Application without its Updater,
handlers per audience, its Bot and error classes."""

from bot.channels.telegram_ptb.channel import PtbChannel
from bot.channels.telegram_ptb.ops import PtbFetcher, PtbOps, make_bot

__all__ = ["PtbChannel", "PtbFetcher", "PtbOps", "make_bot"]
