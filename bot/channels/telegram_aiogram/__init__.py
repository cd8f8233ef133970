"""The Telegram channel on aiogram 3: its Bot, its routers per audience, its calls."""

from bot.channels.telegram_aiogram.channel import AiogramChannel
from bot.channels.telegram_aiogram.ops import AiogramFetcher, AiogramOps, make_bot

__all__ = ["AiogramChannel", "AiogramFetcher", "AiogramOps", "make_bot"]
