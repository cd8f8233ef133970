"""Enumerations shared by the domain, the database and every channel."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Category(StrEnum):
    """Kind of pollution, as Quy chế 174 Art. 8 lists them (odour added: commonly reported)."""

    WASTEWATER = "wastewater"
    EMISSIONS = "emissions"  # smoke, dust and emissions
    SOLID_WASTE = "solid_waste"
    NOISE = "noise"
    ODOUR = "odour"
    OTHER = "other"


class Nature(StrEnum):
    """When the incident happens: the 'nature' the regulation asks for."""

    NOW = "now"  # happening now (sudden)
    EARLIER = "earlier"  # happened earlier (one-off)
    RECURRING = "recurring"  # recurring or continuous


class CaseStatus(StrEnum):
    """Life-cycle status of a case."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    VERIFYING = "verifying"
    RESOLVED = "resolved"
    REJECTED = "rejected"


class CaseAction(StrEnum):
    """What an officer (or the system) does to a case."""

    FILE = "file"
    ACKNOWLEDGE = "acknowledge"
    VERIFY = "verify"
    RESOLVE = "resolve"
    REJECT = "reject"
    REASSIGN = "reassign"
    REOPEN = "reopen"  # the reporter answered "not solved"
    # Log-book lines that do not change the status:
    TAKE = "take"  # an officer takes the case on
    NOTE = "note"  # internal note, never shown to the reporter
    ASK = "ask"  # a question to the reporter
    ANSWER = "answer"  # the reporter's answer or added information
    URGENT = "urgent"  # marked urgent (or not)
    ESCALATE = "escalate"  # sent up to the province
    TAKE_OVER = "take_over"  # the province takes an escalated case
    SEND_BACK = "send_back"  # the province returns it to the ward
    REFER = "refer"  # referred to another agency
    MERGE = "merge"
    UNMERGE = "unmerge"
    JOIN = "join"  # another reporter joined the case
    SATISFACTION = "satisfaction"  # the reporter's answer to "is it solved?"
    REMIND = "remind"  # a deadline reminder or overdue alert went out


class RejectReason(StrEnum):
    """Why a case is rejected."""

    NOT_POLLUTION = "not_pollution"
    DUPLICATE = "duplicate"
    OUTSIDE_COMPETENCE = "outside_competence"


class LocationSource(StrEnum):
    """How the reporter gave the location."""

    GPS = "gps"
    ADDRESS = "address"


class EvidenceKind(StrEnum):
    """Type of an evidence file."""

    PHOTO = "photo"
    VIDEO = "video"
    VOICE = "voice"
    AUDIO = "audio"
    DOCUMENT = "document"


class OutboxStatus(StrEnum):
    """Delivery state of an outbox row."""

    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender; back to pending if its claim runs out
    SENT = "sent"
    FAILED = "failed"  # gave up after the retry budget or a permanent error


class OutboxPriority(IntEnum):
    """A row's class: of one chat's waiting rows the lowest class goes first, then the oldest.

    Rows of the same case in one chat never change order (see bot/services.py `enqueue`).
    """

    # New cases (card, topic, evidence, pin), alerts, officers' actions, prompts and
    # everything to a reporter's private chat.
    NORMAL = 0
    # Answers to commands typed in a group (/open, /overdue, /case, /report, /help...).
    COMMAND = 1
    # A reporter's notice held a few seconds so that the next ones join it
    # (bot/services/notices.py): it never makes the chat's other messages wait, and the
    # case's next message to the chat moves it up and sends it at once.
    HELD = 2


OPEN_STATUSES = frozenset({CaseStatus.NEW, CaseStatus.ACKNOWLEDGED, CaseStatus.VERIFYING})
