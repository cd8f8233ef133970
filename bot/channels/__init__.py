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
    "zalo_channel",
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


def zalo_channel(hotline: Hotline, token: str, api_url: str) -> Channel:
    """The Zalo channel (bot/channels/zalo/), imported only when configured."""
    from bot.channels.zalo import ZaloChannel

    secret = hotline.settings.zalo_webhook_secret
    return ZaloChannel(
        hotline, token, api_url, secret.get_secret_value() if secret is not None else None
    )


def build_channels(hotline: Hotline) -> list[Channel]:
    """Every channel that has a token in the hotline's settings: Telegram, Zalo or both
    (a clear error when neither has one)."""
    settings = hotline.settings
    channels: list[Channel] = []
    telegram_token = settings.telegram_token()
    if telegram_token:
        channels.append(
            telegram_channel(
                hotline, telegram_token, settings.telegram_api_url, settings.telegram_library
            )
        )
    zalo_token = settings.zalo_token()
    if zalo_token:
        channels.append(zalo_channel(hotline, zalo_token, settings.zalo_api_url))
    if not channels:
        raise SystemExit(
            "No channel configured: set HOTLINE_BOT_TOKEN (Telegram, from @BotFather), "
            "HOTLINE_ZALO_BOT_TOKEN (Zalo Bot Platform), or both."
        )
    return channels
