"""The wards' hotline contact points."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import (
    WardContact,
)
from models.types import utcnow


async def ward_contacts(session: AsyncSession) -> dict[str, WardContact]:
    """Every ward's contact points, by ward code."""
    rows = (await session.exec(select(WardContact))).all()
    return {row.ward_code: row for row in rows}


_WARD_CONTACT_FIELDS = frozenset(
    {"receive_phone", "receive_email", "handle_phone", "handle_email", "note"}
)


async def save_ward_contact(
    session: AsyncSession,
    ward_code: str,
    values: dict[str, str | None],
    now: datetime | None = None,
) -> WardContact:
    """Create or update a ward's contact points; only the given fields change (None clears)."""
    unknown = set(values) - _WARD_CONTACT_FIELDS
    if unknown:
        raise ValueError(f"not contact-point fields: {sorted(unknown)}")
    row = await session.get(WardContact, ward_code)
    if row is None:
        row = WardContact(ward_code=ward_code)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now or utcnow()
    await session.flush()
    return row
