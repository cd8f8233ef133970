"""Enumerations shared by the domain, the database and every channel."""

from __future__ import annotations

from enum import StrEnum


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


OPEN_STATUSES = frozenset({CaseStatus.NEW, CaseStatus.ACKNOWLEDGED, CaseStatus.VERIFYING})
