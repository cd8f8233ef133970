"""SQLModel tables: the hotline's persistent state."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.enums import CaseStatus, OutboxStatus
from models.types import UTCDateTime, utcnow

# Sizes of columns that take what a channel sends as it is: the core cuts longer input to
# them (handlers/core.py). A Telegram name has up to 64 + 1 + 64 characters.
NAME_MAX = 256
MIME_TYPE_MAX = 128


class Reporter(SQLModel, table=True):
    """A citizen known to the hotline on one channel."""

    __tablename__ = "reporter"
    __table_args__ = (UniqueConstraint("channel", "user_id", name="uq_reporter_channel_user"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    user_id: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)  # the private chat where they hear back
    # 'vi' or 'en' once known; None until chosen, given by the client or detected.
    language: str | None = Field(default=None, max_length=8)
    language_chosen: bool = Field(default=False)
    # Filled only when the reporter shares them; shown only to the case's ward.
    phone: str | None = Field(default=None, max_length=32)
    full_name: str | None = Field(default=None, max_length=NAME_MAX)
    # Open311 filings only (the requester's optional email): shown only to the case's ward.
    email: str | None = Field(default=None, max_length=254)
    unreachable: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class Conversation(SQLModel, table=True):
    """Where a reporter is in the intake dialogue, with everything typed so far."""

    __tablename__ = "conversation"
    __table_args__ = (UniqueConstraint("channel", "user_id", name="uq_conversation_channel_user"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    user_id: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)
    state: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class CaseSequence(SQLModel, table=True):
    """The last case number issued in a province (case codes are per province)."""

    __tablename__ = "case_sequence"

    province_code: str = Field(primary_key=True, max_length=2)
    last_value: int = Field(default=0)


# Squares of GEO_CELL_DEG degrees: a pinned case's square lets the duplicate lookup read
# only the cases around a new report (migration 0004 computes the same for older cases).
GEO_CELL_DEG = 0.01
GEO_CELL_ROW = 100_000  # longitude squares per row of latitude: |floor(lon / 0.01)| <= 18,000


def geo_cell(latitude: float | None, longitude: float | None) -> int | None:
    """The square a point lies in, as one integer (None without a point)."""
    if latitude is None or longitude is None:
        return None
    row = math.floor(latitude / GEO_CELL_DEG)
    return row * GEO_CELL_ROW + math.floor(longitude / GEO_CELL_DEG)


class Case(SQLModel, table=True):
    """One pollution report, from filing to its result."""

    __tablename__ = "case"
    __table_args__ = (
        UniqueConstraint("province_code", "seq", name="uq_case_province_seq"),
        Index("ix_case_ward_status", "ward_code", "status"),
        # The duplicate lookup at Confirm (services.duplicate_candidates): pinned cases by
        # their square, address-only cases by their ward; both by category and filing time.
        Index("ix_case_dup_pin", "geo_cell", "category", "filed_at"),
        Index("ix_case_dup_ward", "ward_code", "category", "filed_at"),
        Index("ix_case_province_filed", "province_code", "filed_at"),  # reports by period
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True, index=True)
    province_code: str = Field(max_length=2)
    seq: int
    ward_code: str = Field(max_length=5)
    category: str = Field(max_length=16)
    status: str = Field(default=CaseStatus.NEW.value, max_length=16)
    latitude: float | None = None
    longitude: float | None = None
    # The square of the pin (geo_cell), set with latitude/longitude; None without a pin.
    geo_cell: int | None = None
    address: str | None = Field(default=None, sa_type=Text)
    location_source: str = Field(max_length=8)
    nature: str = Field(max_length=16)
    suspected_source: str | None = Field(default=None, max_length=200)
    description: str = Field(sa_type=Text)
    description_language: str = Field(max_length=8)
    reporter_id: int = Field(foreign_key="reporter.id", index=True)
    contact_shared: bool = Field(default=False)
    contact_phone: str | None = Field(default=None, max_length=32)
    # The ward the reporter shared their phone with (the one they reported to): its groups
    # alone may see the phone, whatever reassignment or merge follows (handlers/audience.py).
    contact_ward_code: str | None = Field(default=None, max_length=5)
    channel: str = Field(max_length=16)
    filed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    verify_due_at: datetime = Field(sa_type=UTCDateTime())
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    result_text: str | None = Field(default=None, sa_type=Text)
    reject_reason: str | None = Field(default=None, max_length=32)
    handled_by: str | None = Field(default=None, max_length=128)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    # Deadlines (calendar hours, from filing; recomputed on reassign, urgency, reopen).
    urgent: bool = Field(default=False)
    ack_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    result_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # "I'll take it": the officer who handles the case (log-book actor form).
    assignee: str | None = Field(default=None, max_length=128)
    # Escalated to the province (the Sở) and, once it takes over, handled there.
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    escalation_reason: str | None = Field(default=None, sa_type=Text)
    province_owned: bool = Field(default=False)
    # Referred to another agency (police, inspectorate, another province).
    referred_to: str | None = Field(default=None, max_length=200)
    # A duplicate merged into another case (its reporters hear that case's result).
    merged_into_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    # The reporter's answer to "Is the problem solved?": 'yes' | 'no'.
    satisfaction: str | None = Field(default=None, max_length=8)
    satisfaction_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    reopened_count: int = Field(default=0)
    # The result text is published (public pages, Open311) unless an officer said no; the
    # reason is also written in the log book (handlers/publication.py).
    result_public: bool = Field(default=True)
    result_public_reason: str | None = Field(default=None, sa_type=Text)


class Evidence(SQLModel, table=True):
    """A file the reporter (or an officer, with a result) attached to a case."""

    __tablename__ = "evidence"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    kind: str = Field(max_length=16)
    path: str = Field(max_length=255)  # relative to HOTLINE_MEDIA_DIR, a random name
    sha256: str = Field(max_length=64)
    size: int
    mime_type: str | None = Field(default=None, max_length=MIME_TYPE_MAX)
    from_officer: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class CaseEvent(SQLModel, table=True):
    """One line of the log book: who did what to a case, when, from which status to which."""

    __tablename__ = "case_event"
    # Reports count the cases with a given kind of line (escalate, refer, ...).
    __table_args__ = (Index("ix_case_event_action_case", "action", "case_id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    actor: str = Field(max_length=128)
    action: str = Field(max_length=16)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    note: str | None = Field(default=None, sa_type=Text)


class LinkCode(SQLModel, table=True):
    """A one-time code that binds a group chat to a ward or to the province."""

    __tablename__ = "link_code"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    ward_code: str | None = Field(default=None, max_length=5)  # None: the province group
    province_code: str = Field(max_length=2)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    expires_at: datetime = Field(sa_type=UTCDateTime())
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    used_by_chat: str | None = Field(default=None, max_length=64)


class GroupLink(SQLModel, table=True):
    """A group chat bound to a ward (officers) or to the province (the Sở)."""

    __tablename__ = "group_link"
    __table_args__ = (Index("ix_group_link_chat", "channel", "chat_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    ward_code: str | None = Field(default=None, max_length=5, index=True)
    province_code: str = Field(max_length=2)
    active: bool = Field(default=True)
    # A forum supergroup: each case gets its own topic there.
    is_forum: bool = Field(default=False)
    linked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    linked_by: str = Field(max_length=128)
    unlinked_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class Outbox(SQLModel, table=True):
    """A message to a person, written with the change that causes it, delivered by the sender."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
        # Whether a row is its chat's next one: one probe (services.outbox._is_head).
        Index("ix_outbox_chat_head", "channel", "chat_id", "status", "priority", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)  # message | album | location | edit
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    status: str = Field(default=OutboxStatus.PENDING.value, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # While a sender is delivering the row (status 'sending'): until when it holds it.
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # Its class (models.enums.OutboxPriority): in a chat, lower classes go first.
    priority: int = Field(default=0)


class MessageRef(SQLModel, table=True):
    """A message the bot sent that matters later: a case card, or a prompt awaiting a reply."""

    __tablename__ = "message_ref"
    __table_args__ = (Index("ix_message_ref_chat_msg", "channel", "chat_id", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    message_id: int = Field(sa_type=BigInteger)
    case_id: int = Field(foreign_key="case.id", index=True)
    purpose: str = Field(max_length=16)  # card | prompt
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class InboundUpdate(SQLModel, table=True):
    """The inbox, and the queue of inbound updates (bot/inbox.py).

    A receiver writes each update as soon as it arrives (raw payload and the routing facts
    its channel reads from it) and only then confirms it to the channel. The dispatcher
    hands pending rows over per chat in arrival order and marks them in hand (`attempts`,
    `claimed_until`); the handling transaction marks a row processed with its effects, so
    a crash never loses what people sent and a redelivered update has effect once.
    """

    __tablename__ = "inbound_update"
    # Both indexes hold the pending rows only, not the days of processed ids kept beside
    # them: the pending rows oldest first (the heads of the chats are looked for in this
    # order; the backlog is counted), and each chat's pending rows (is one its head?).
    __table_args__ = (
        Index(
            "ix_inbound_update_pending",
            "channel",
            "update_id",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
        Index(
            "ix_inbound_update_pending_chat",
            "channel",
            "chat_key",
            "update_id",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
        # Channels without update ids (Zalo) recognise a redelivery by this key.
        Index("ux_inbound_update_dedupe", "channel", "dedupe_key", unique=True),
    )

    channel: str = Field(primary_key=True, max_length=16)
    update_id: int = Field(primary_key=True, sa_type=BigInteger)
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # The chat whose order the update belongs to (None: no chat; ordered with nothing).
    chat_key: str | None = Field(default=None, max_length=64)
    # The album (media group) the update is an item of; its items are handled together.
    group_key: str | None = Field(default=None, max_length=64)
    # Times the update was taken in hand; > 0 on a pending row with no live claim means a
    # process died while handling it (a suspect). Named `failures` before 0007.
    attempts: int = Field(default=0)
    # Taken in hand by a dispatcher until then; other dispatchers leave it alone.
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # It carries files to download before it can be handled: such updates have a lane of
    # their own in the dispatcher, so slow downloads never take every slot.
    has_files: bool = Field(default=False)
    # What identifies a redelivery where the channel has no update ids (Zalo:
    # "<event_name>:<message_id>"); None for channels that have them (NULLs never clash).
    dedupe_key: str | None = Field(default=None, max_length=128)


class ZaloChatMenu(SQLModel, table=True):
    """What a Zalo chat was last offered, so its next text can be read as a choice.

    Zalo has no buttons: the channel renders a message's buttons as a numbered menu and
    keeps the options here (bot/channels/zalo/menus.py); the next "2", label, unaccented or
    abbreviated label becomes the button's event. `reply_to`: the id of the officer's
    question the next text answers (Zalo has no reply-to, no ForceReply).
    """

    __tablename__ = "zalo_chat_menu"

    chat_id: str = Field(primary_key=True, max_length=64)
    # [{"label": "...", "data": "c1:cat:noise" | null (typed as text)}], in menu order
    options: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    reply_to: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class LinkAttempt(SQLModel, table=True):
    """A /link attempt from a chat, kept to slow down guessing of link codes."""

    __tablename__ = "link_attempt"
    __table_args__ = (Index("ix_link_attempt_chat_at", "channel", "chat_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    ok: bool = Field(default=False)


class CaseReporter(SQLModel, table=True):
    """Another reporter of the same incident, who joined the case and hears its result."""

    __tablename__ = "case_reporter"
    __table_args__ = (UniqueConstraint("case_id", "reporter_id", name="uq_case_reporter"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    reporter_id: int = Field(foreign_key="reporter.id", index=True)
    joined_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    # Set when the joining reporter shared their phone with the ward.
    contact_shared: bool = Field(default=False)
    contact_phone: str | None = Field(default=None, max_length=32)
    # The ward they shared it with: the one they reported to (kept when moved by a merge).
    contact_ward_code: str | None = Field(default=None, max_length=5)


class DeadlineAlert(SQLModel, table=True):
    """A deadline reminder or overdue alert already sent: each is sent once per cycle."""

    __tablename__ = "deadline_alert"
    __table_args__ = (
        UniqueConstraint("case_id", "deadline", "stage", "cycle", name="uq_deadline_alert"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    deadline: str = Field(max_length=16)  # ack | verify | result
    stage: str = Field(max_length=16)  # reminder (75 %) | overdue
    cycle: int = Field(default=0)  # bumped when the deadlines are set again
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class DigestRun(SQLModel, table=True):
    """A daily digest already sent for a local date (so a restart never sends it twice)."""

    __tablename__ = "digest_run"

    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD, Asia/Ho_Chi_Minh
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class WardContact(SQLModel, table=True):
    """A ward's official contact points (seed 001): receiving and handling, phone and email."""

    __tablename__ = "ward_contact"

    ward_code: str = Field(primary_key=True, max_length=5)
    receive_phone: str | None = Field(default=None, max_length=32)
    receive_email: str | None = Field(default=None, max_length=254)
    handle_phone: str | None = Field(default=None, max_length=32)
    handle_email: str | None = Field(default=None, max_length=254)
    note: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class ApiKey(SQLModel, table=True):
    """A key another system files Open311 requests with; only its hash is kept."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    key_hash: str = Field(max_length=64, unique=True)  # sha256 hex of the key
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
