"""One entry point for every channel: an event in, outbox rows and a button answer out.

Whatever people send is made storable here, once, before any handler sees it: control
characters are stripped from every piece of user text (NUL cannot be stored in
PostgreSQL text at all, the others mean nothing in a report), and what a channel sends
without a limit of its own is cut to its column (names, MIME types). Stripping rather
than refusing: a pasted text with a stray control character is still what the person
meant to say, and nothing of it is lost that a reader could see.
"""

from __future__ import annotations

import re
from dataclasses import replace

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import services
from handlers import deadlines as _deadlines  # noqa: F401  (registers /open, /overdue, /case, 🚨)
from handlers import duplicates as _duplicates  # noqa: F401  (registers /merge, /unmerge)
from handlers import intake, limits, officer
from handlers import officer_tools as _officer_tools  # noqa: F401  (registers buttons)
from handlers import province as _province  # noqa: F401  (registers /report)
from handlers import publication as _publication  # noqa: F401  (/khongcongkhai, /congkhai)
from handlers.context import OFFICER_LOCALE, HotlineDeps, Turn
from handlers.events import Event, FileFetcher, Reply
from handlers.language import learn_language, reporter_locale
from models.tables import MIME_TYPE_MAX, NAME_MAX

# C0 controls but tab, line feed and carriage return; DEL and the C1 controls; and lone
# surrogates, which no UTF-8 database can encode.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
FILE_NAME_MAX = 255
# The event's fields that carry what a person (or their client) typed or chose.
_TEXT_FIELDS = (
    "text",
    "user_name",
    "phone",
    "reply_to_text",
    "command",
    "button_data",
    "language_code",
    "unsupported_kind",
)


def storable(text: str | None, limit: int | None = None) -> str | None:
    """`text` without control characters, cut to `limit` characters."""
    if text is None:
        return None
    text = _UNSTORABLE.sub("", text)
    return text[:limit] if limit is not None else text


def storable_event(event: Event) -> Event:
    """The event with every piece of user text made storable (see the module docstring)."""
    changes: dict[str, object] = {name: storable(getattr(event, name)) for name in _TEXT_FIELDS}
    changes["user_name"] = storable(event.user_name, NAME_MAX)
    changes["files"] = tuple(
        replace(
            ref,
            mime_type=storable(ref.mime_type, MIME_TYPE_MAX),
            file_name=storable(ref.file_name, FILE_NAME_MAX),
        )
        for ref in event.files
    )
    return replace(event, **changes)  # type: ignore[arg-type]


async def handle_event(
    deps: HotlineDeps, session: AsyncSession, event: Event, fetcher: FileFetcher
) -> Reply | None:
    """Handle one event inside the caller's transaction; None when it was a redelivery."""
    event = storable_event(event)
    if not await services.claim_update(
        session, event.channel, event.update_id, *event.more_update_ids
    ):
        return None
    turn = Turn(deps=deps, session=session, event=event, fetcher=fetcher)
    # Whoever wrote or pressed is looking at this chat: its answers go before other chats'
    # backlog (bot/services/outbox.py, REPLY_HEAD_START).
    services.replying_to(session, event.channel, event.chat_id)
    if event.chat_type == "group":
        if event.kind == "command" and event.command != "link":
            # Answers to commands wait behind new cases and alerts (bot/outbox.py), and
            # each member has a limit of commands per minute (handlers/limits.py).
            services.answering_command(session, event.channel, event.chat_id)
            turn.locale = OFFICER_LOCALE
            if await limits.refuse_command_flood(turn):
                return turn.reply
        await officer.handle_group(turn)
        return turn.reply
    # Per-citizen message limit, counted in memory before any other work (the claim above
    # stays: a refused update must not be replayed).
    if await limits.refuse_flood(turn):
        return turn.reply
    reporter = await services.get_reporter(
        session, event.channel, event.user_id, chat_id=event.chat_id
    )
    if not reporter.language_chosen:
        learn_language(reporter, event)
    turn.locale = reporter_locale(reporter, event.language_code)
    await intake.handle_private(turn, reporter)
    return turn.reply
