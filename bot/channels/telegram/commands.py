"""The command menu both Telegram runtimes fill at start (its content, written once)."""

from __future__ import annotations

import logging

from bot.channels.telegram.delivery import TelegramOps
from bot.i18n import t

log = logging.getLogger(__name__)

PRIVATE_COMMANDS = ("report", "mycases", "cancel", "help", "lang")
GROUP_COMMANDS = (
    ("link", "cmd.link"),
    ("help", "cmd.group_help"),
    ("report", "cmd.group_report"),
    ("open", "cmd.open"),
    ("overdue", "cmd.overdue"),
    ("case", "cmd.case"),
    ("khongcongkhai", "publication.cmd_hide"),
    ("congkhai", "publication.cmd_show"),
)
MENU_LANGUAGES = (("vi", None), ("en", "en"))  # (catalogue, Telegram's language_code)


async def register_commands(ops: TelegramOps) -> None:
    """Fill Telegram's command menu: citizens' commands in private chats, officers' in groups.

    Vietnamese is the default list; English for clients set to English. A failure here is
    logged and the bot runs on: the menu is a convenience.
    """
    try:
        for locale, language_code in MENU_LANGUAGES:
            await ops.set_my_commands(
                [{"command": c, "description": t(locale, f"cmd.{c}")} for c in PRIVATE_COMMANDS],
                scope="all_private_chats",
                language_code=language_code,
            )
            await ops.set_my_commands(
                [{"command": c, "description": t(locale, key)} for c, key in GROUP_COMMANDS],
                scope="all_group_chats",
                language_code=language_code,
            )
    except Exception:  # noqa: BLE001
        log.warning("could not set the command menu", exc_info=True)
