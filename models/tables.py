"""SQLModel tables: the hotline's persistent state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.enums import CaseStatus, OutboxStatus
from models.types import UTCDateTime, utcnow


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
    full_name: str | None = Field(default=None, max_length=128)
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


class Case(SQLModel, table=True):
    """One pollution report, from filing to its result."""

    __tablename__ = "case"
    __table_args__ = (
        UniqueConstraint("province_code", "seq", name="uq_case_province_seq"),
        Index("ix_case_ward_status", "ward_code", "status"),
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
    address: str | None = Field(default=None, sa_type=Text)
    location_source: str = Field(max_length=8)
    nature: str = Field(max_length=16)
    suspected_source: str | None = Field(default=None, max_length=200)
    description: str = Field(sa_type=Text)
    description_language: str = Field(max_length=8)
    reporter_id: int = Field(foreign_key="reporter.id", index=True)
    contact_shared: bool = Field(default=False)
    contact_phone: str | None = Field(default=None, max_length=32)
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


class Evidence(SQLModel, table=True):
    """A file the reporter (or an officer, with a result) attached to a case."""

    __tablename__ = "evidence"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    kind: str = Field(max_length=16)
    path: str = Field(max_length=255)  # relative to HOTLINE_MEDIA_DIR, a random name
    sha256: str = Field(max_length=64)
    size: int
    mime_type: str | None = Field(default=None, max_length=128)
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
    __table_args__ = (Index("ix_outbox_status_due", "status", "next_attempt_at"),)

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
    """The inbox: every inbound update, stored before it is handled.

    A row is written as soon as an update arrives (with its raw payload) and marked
    processed in the same transaction as its effects. Rows still unprocessed when the bot
    starts are handled then, so a crash never loses what people sent; a redelivered
    update has effect once.
    """

    __tablename__ = "inbound_update"
    __table_args__ = (Index("ix_inbound_update_pending", "channel", "processed_at"),)

    channel: str = Field(primary_key=True, max_length=16)
    update_id: int = Field(primary_key=True, sa_type=BigInteger)
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    # Times handling was tried and failed; a poison update is given up after a few.
    failures: int = Field(default=0)


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
