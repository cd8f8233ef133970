"""Telegram's webhook, shared by both Telegram runtimes: authentication and registration.

`TelegramWebhook` is what `POST /webhook/telegram` (bot/web/server.py) asks of the channel:
whether a request carries the secret given to setWebhook (header
`X-Telegram-Bot-Api-Secret-Token`, compared in constant time) and the raw update in its body
(Telegram posts one update per request). `TelegramWebhookAdmin` registers, removes and
describes the webhook with raw Bot API calls (`hotline webhook set|delete|info`).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.channels.base import RawUpdate, Webhook
from bot.channels.telegram.routing import ALLOWED_UPDATES

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.settings import Settings

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as the secret token.
SECRET_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
MAX_CONNECTIONS = 40  # Telegram's default: parallel webhook requests it may open


def valid_secret(secret: str) -> bool:
    """Whether Telegram accepts this as a webhook secret token."""
    return 1 <= len(secret) <= 256 and set(secret) <= SECRET_ALPHABET


class TelegramWebhook(Webhook):
    """Telegram's side of `POST /webhook/telegram`."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret")
        self._secret = secret.encode()

    def authentic(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries our secret token (constant-time comparison)."""
        given = headers.get(SECRET_HEADER)
        if not given:
            return False
        return hmac.compare_digest(given.encode(), self._secret)

    def updates(self, body: Any) -> list[RawUpdate]:
        """Telegram posts one Update object per request."""
        return [body] if isinstance(body, dict) else []


def attach_webhook(channel: Channel, settings: Settings) -> None:
    """Give the Telegram channel its webhook when HOTLINE_TELEGRAM_WEBHOOK_SECRET is set."""
    secret = settings.telegram_webhook_secret
    if channel.name == "telegram" and secret is not None and secret.get_secret_value():
        channel.webhook = TelegramWebhook(secret.get_secret_value())


class TelegramWebhookAdmin:
    """setWebhook, deleteWebhook and getWebhookInfo over raw HTTP (a deploy step)."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        url = f"{self.api_url}/bot{self.token}/{method}"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            http.post(url, data=params) as response,
        ):
            body = await response.json(content_type=None)
        if not isinstance(body, dict) or not body.get("ok"):
            description = body.get("description") if isinstance(body, dict) else None
            raise RuntimeError(f"{method}: HTTP {response.status} {description or ''}".strip())
        return body.get("result")

    async def set_webhook(self, url: str, secret: str) -> None:
        """Register `url`; Telegram then posts each update there with the secret header."""
        if not valid_secret(secret):
            raise ValueError(
                "HOTLINE_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ -"
            )
        await self._call(
            "setWebhook",
            {
                "url": url,
                "secret_token": secret,
                "allowed_updates": json.dumps(ALLOWED_UPDATES),
                "max_connections": str(MAX_CONNECTIONS),
            },
        )

    async def delete_webhook(self) -> None:
        """Remove the webhook (long polling works again); pending updates are kept."""
        await self._call("deleteWebhook", {"drop_pending_updates": "false"})

    async def webhook_info(self) -> dict[str, Any]:
        """Telegram's getWebhookInfo: url, pending_update_count, last_error_message..."""
        result = await self._call("getWebhookInfo", {})
        return result if isinstance(result, dict) else {}
