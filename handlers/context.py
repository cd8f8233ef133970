"""What a handler needs besides the event: dependencies and a per-update turn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import services
from bot.deadlines import DeadlinePolicy
from bot.geo import Gazetteer
from bot.i18n import t
from bot.media import MediaStore
from handlers.events import Button, Event, FileFetcher, KeyButton, Outgoing, Reply
from handlers.limits import UserLimits

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
OFFICER_LOCALE = "vi"  # officer groups are shared rooms of Vietnamese civil servants


@dataclass
class HotlineDeps:
    """Dependencies every handler may use, built once at start-up."""

    province_code: str
    gazetteer: Gazetteer
    media: MediaStore
    verify_hours: float = 24.0
    max_photos: int = 5
    max_file_mb: int = 20
    user_messages_per_minute: int = 30
    user_cases_per_hour: int = 5
    group_commands_per_minute: int = 20  # per member of an officer group
    link_max_failures: int = 5
    link_failure_window_min: float = 15.0
    duplicate_radius_m: float = 500.0  # possible duplicates: this close (handlers/duplicates.py)
    duplicate_hours: float = 48.0  # ... and filed within this many hours
    limits: UserLimits = field(default_factory=UserLimits)  # per-user limit state
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy)  # bot/deadlines.py
    agency_name: str | None = None  # heading of the reports (HOTLINE_AGENCY_NAME)
    result_correction_minutes: int = 10  # "Sửa kết quả" works this long after sending
    # Held so that the next ones join them (bot/services/notices.py), seconds: a reporter's
    # progress notices (HOTLINE_NOTICE_HOLD_S) and the photo count of the evidence step
    # (HOTLINE_EVIDENCE_ACK_HOLD_S).
    notice_hold_s: float = 5.0
    evidence_ack_hold_s: float = 2.0
    # A case's public page (bot.web.public.site.case_url); None without HOTLINE_PUBLIC_URL.
    case_url: Callable[[str], str | None] | None = None


@dataclass
class Turn:
    """The handling of one event: its session, its sender and the answers it produces."""

    deps: HotlineDeps
    session: AsyncSession
    event: Event
    fetcher: FileFetcher
    locale: str = "vi"
    reply: Reply = field(default_factory=Reply)

    def text(self, key: str, /, **params: object) -> str:
        """A catalogue message in this turn's locale."""
        return t(self.locale, key, **params)

    async def send(
        self,
        key_or_text: str,
        /,
        *,
        raw: bool = False,
        buttons: list[list[Button]] | None = None,
        keyboard: list[list[KeyButton]] | None = None,
        remove_keyboard: bool = False,
        chat_id: str | None = None,
        case_id: int | None = None,
        **params: object,
    ) -> None:
        """Queue a message to the current chat (or `chat_id`) through the outbox.

        `case_id` ties it to a case: if it cannot reach a reporter, the case's officers
        are told (see bot/outbox.py)."""
        text = key_or_text if raw else self.text(key_or_text, **params)
        await services.enqueue(
            self.session,
            self.event.channel,
            Outgoing(
                chat_id=chat_id or self.event.chat_id,
                text=text,
                buttons=buttons or [],
                keyboard=keyboard or [],
                remove_keyboard=remove_keyboard,
                case_id=case_id,
            ),
        )

    def answer(self, key: str, /, *, alert: bool = False, **params: object) -> None:
        """Answer the button press with a short notice."""
        self.reply.callback_text = self.text(key, **params)
        self.reply.callback_alert = alert


def local_time(moment: datetime) -> str:
    """A moment as people in Vietnam read it: HH:MM dd/mm/yyyy, Asia/Ho_Chi_Minh."""
    return moment.astimezone(LOCAL_TZ).strftime("%H:%M %d/%m/%Y")
