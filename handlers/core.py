"""One entry point for every channel: an event in, outbox rows and a button answer out."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import services
from handlers import deadlines as _deadlines  # noqa: F401  (registers /open, /overdue, /case, 🚨)
from handlers import duplicates as _duplicates  # noqa: F401  (registers /merge, /unmerge)
from handlers import intake, limits, officer
from handlers import officer_tools as _officer_tools  # noqa: F401  (registers buttons)
from handlers import province as _province  # noqa: F401  (registers /report)
from handlers.context import OFFICER_LOCALE, HotlineDeps, Turn
from handlers.events import Event, FileFetcher, Reply
from handlers.language import detect_language, normalize_locale, reply_locale


async def handle_event(
    deps: HotlineDeps, session: AsyncSession, event: Event, fetcher: FileFetcher
) -> Reply | None:
    """Handle one event inside the caller's transaction; None when it was a redelivery."""
    if not await services.claim_update(
        session, event.channel, event.update_id, *event.more_update_ids
    ):
        return None
    turn = Turn(deps=deps, session=session, event=event, fetcher=fetcher)
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
    client_locale = normalize_locale(event.language_code)
    if not reporter.language_chosen:
        if client_locale:
            reporter.language = client_locale
        elif reporter.language is None and event.kind == "text" and event.text:
            # No /lang choice and the client did not say: learn it from the first free text.
            if detect_language(event.text) != "und":
                reporter.language = reply_locale(event.text)
    turn.locale = intake.reporter_locale(reporter, event.language_code)
    await intake.handle_private(turn, reporter)
    return turn.reply
