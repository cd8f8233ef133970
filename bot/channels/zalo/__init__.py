"""The Zalo channel (Zalo Bot Platform): citizens report from Zalo, officers stay on Telegram.

- client.py: a thin async client over aiohttp (envelope, errors by code);
- routing.py: the chat, the dedupe key (event_name:message_id), our own update ids;
- translate.py: events to the core's `Event`s (commands without the slash, menu choices,
  answers to officers' questions, photos, stickers, hidden people);
- menus.py: buttons as numbered menus, kept per chat (`zalo_chat_menu`);
- delivery.py: outbox rows to calls (2,000-character pieces, notes for what Zalo lacks);
- polling.py: getUpdates, one update per call, stored before the next;
- channel.py: `ZaloChannel`, `ZaloWebhook` (X-Bot-Api-Secret-Token), `ZaloFetcher`.
"""

from bot.channels.zalo.channel import ZaloChannel, ZaloFetcher, ZaloWebhook

__all__ = ["ZaloChannel", "ZaloFetcher", "ZaloWebhook"]
