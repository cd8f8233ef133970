"""API keys of the systems that file Open311 requests: only a hash of each key is kept."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import ApiKey
from models.types import utcnow

KEY_PREFIX = "h311_"


class ApiKeyError(ValueError):
    """A key name that is taken, or a key that does not exist."""


def hash_key(key: str) -> str:
    """The stored form of a key (sha256 hex; keys are random, so no salt is needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


async def create_api_key(
    session: AsyncSession, name: str, now: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key named `name`: the row (with its hash) and the key itself, shown once."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ApiKeyError("a key's name has 1 to 64 characters")
    taken = (await session.exec(select(ApiKey).where(ApiKey.name == name))).first()
    if taken is not None:
        raise ApiKeyError(f"a key named {name!r} exists already (revoke it or pick a name)")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=hash_key(key), created_at=now or utcnow())
    session.add(row)
    await session.flush()
    return row, key


async def revoke_api_key(
    session: AsyncSession, name_or_id: str, now: datetime | None = None
) -> ApiKey:
    """Revoke a key by its name or id; it is kept (revoked) for the record."""
    row = (await session.exec(select(ApiKey).where(ApiKey.name == name_or_id))).first()
    if row is None and name_or_id.isdigit():
        row = await session.get(ApiKey, int(name_or_id))
    if row is None:
        raise ApiKeyError(f"no API key named or numbered {name_or_id!r}")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        await session.flush()
    return row


async def api_key_of(session: AsyncSession, key: str) -> ApiKey | None:
    """The live (not revoked) key row that `key` is, or None."""
    if not key:
        return None
    row = (
        await session.exec(
            select(ApiKey).where(
                ApiKey.key_hash == hash_key(key), col(ApiKey.revoked_at).is_(None)
            )
        )
    ).first()
    return row


async def list_api_keys(session: AsyncSession) -> list[ApiKey]:
    """Every key, oldest first."""
    return list((await session.exec(select(ApiKey).order_by(col(ApiKey.id)))).all())
