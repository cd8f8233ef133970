"""An Open311 request becomes a case through the core's own filing path (handlers/filing.py).

The requester is a reporter of the channel "open311" (one per request: there is no chat to
answer in); what the core would tell them goes to the outbox like any message and is taken
by `Open311Transport`, which has nowhere to send it: they follow the case over the API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import services
from bot.outbox import Pace, Sent
from handlers import filing
from handlers.context import HotlineDeps, Turn
from handlers.events import Event, FileRef
from handlers.language import detect_language
from models.enums import LocationSource, Nature
from models.tables import Outbox

CHANNEL = "open311"


class Open311Transport:
    """Delivers the outbox rows of the "open311" channel: Open311 requesters have no chat."""

    channel = CHANNEL

    def is_group(self, chat_id: str) -> bool:
        """No Open311 chat is a group."""
        return False

    async def deliver(self, row: Outbox, edit_targets: list[int], pace: Pace) -> Sent:
        """Nothing to send: the requester reads the case's status over the API."""
        return Sent(message_ids=[])


class _NoFiles:
    async def fetch(self, ref: FileRef, destination: str) -> None:
        raise RuntimeError("Open311 requests carry no files")


@dataclass(frozen=True)
class Request:
    """A checked POST /requests: where, what, and the requester's optional contact."""

    category: str
    ward_code: str
    description: str
    latitude: float | None
    longitude: float | None
    address: str | None
    email: str | None
    phone: str | None
    name: str | None


async def file_request(
    session: AsyncSession, deps: HotlineDeps, request: Request, *, key_id: int
) -> str:
    """File the request as a case (card in the ward's group, via the outbox); its code."""
    user_id = f"k{key_id}-{secrets.token_hex(8)}"
    reporter = await services.get_reporter(session, CHANNEL, user_id)
    reporter.language = "vi"
    reporter.email = request.email
    shared = bool(request.phone or request.email)
    data: dict[str, Any] = {
        "category": request.category,
        "ward_code": request.ward_code,
        "description": request.description,
        "description_language": detect_language(request.description),
        "nature": Nature.NOW.value,
        "location_source": (
            LocationSource.GPS.value
            if request.latitude is not None
            else LocationSource.ADDRESS.value
        ),
        "latitude": request.latitude,
        "longitude": request.longitude,
        "address": request.address,
        "contact_shared": shared,
        "contact_phone": request.phone,
        "contact_name": request.name,
        "evidence": [],
    }
    event = Event(
        channel=CHANNEL, chat_id=user_id, chat_type="private", user_id=user_id, kind="text"
    )
    turn = Turn(deps=deps, session=session, event=event, fetcher=_NoFiles())
    await filing.file_case(turn, data)
    cases = await services.cases_of_reporter(session, reporter.id or 0)
    if not cases:
        raise RuntimeError("the core did not file the request")
    return cases[0].code
