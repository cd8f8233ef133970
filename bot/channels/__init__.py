"""The channels the hotline serves, built from the settings: one core, several channels.

`bot/channels/base.py` is the contract every channel runtime provides; `telegram/` holds
what both Telegram runtimes share; `telegram_aiogram/` is the runtime on aiogram,
`telegram_ptb/` the runtime on python-telegram-bot. The runtime is chosen by configuration
here (HOTLINE_TELEGRAM_LIBRARY), and only the chosen one is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels.base import Channel, Receiver, Route, Webhook

if TYPE_CHECKING:
    from bot.app import Hotline
    from bot.channels.telegram.channel import TelegramChannel

TELEGRAM_LIBRARIES = ("aiogram", "ptb")  # HOTLINE_TELEGRAM_LIBRARY; the first is the default

__all__ = [
    "TELEGRAM_LIBRARIES",
    "Channel",
    "Receiver",
    "Route",
    "Webhook",
    "build_channels",
    "telegram_channel",
]


def telegram_channel(
    hotline: Hotline, token: str, api_url: str, library: str = "aiogram"
) -> TelegramChannel:
    """The Telegram channel on the chosen client library."""
    if library == "aiogram":
        from bot.channels.telegram_aiogram import AiogramChannel

        return AiogramChannel(hotline, token, api_url)
    if library == "ptb":
        from bot.channels.telegram_ptb import PtbChannel

        return PtbChannel(hotline, token, api_url)
    raise ValueError(f"unknown Telegram library {library!r} (one of {TELEGRAM_LIBRARIES})")


def build_channels(hotline: Hotline) -> list[Channel]:
    """The channels configured in the hotline's settings."""
    settings = hotline.settings
    return [
        telegram_channel(
            hotline,
            settings.require_token(),
            settings.telegram_api_url,
            settings.telegram_library,
        )
    ]
