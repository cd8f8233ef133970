"""the inbox becomes the queue: routing keys, attempts and claims on inbound updates

Revision ID: 0007_inbox_queue
Revises: 0006_duplicate_index
Create Date: 2026-12-07

- `inbound_update.chat_key`: the chat whose order an update belongs to; `group_key`: the
  album (media group) it is an item of. The dispatcher hands a chat's updates over one at
  a time in arrival order, an album whole.
- `failures` is renamed `attempts`: how often the update was taken in hand. A pending row
  with attempts > 0 and no live claim was in hand when a process died.
- `claimed_until`: the claim (lease) of the dispatcher that holds the row in hand.
- `has_files`: the update carries files to download before it is handled (its own lane in
  the dispatcher, so slow downloads never hold every slot). Rows stored before are taken
  as carrying none.
- Two indexes over the pending rows only (the processed ids of 7 days stay out of them):
  (channel, update_id), the pending rows oldest first, which also counts the backlog; and
  (channel, chat_key, update_id), which tells whether a row is its chat's oldest.

Rows stored by the previous version get their keys here, read from their payload (only
pending rows still have one). Reviewed by hand; no app imports.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0007_inbox_queue"
down_revision: str | None = "0006_duplicate_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("processed_at IS NULL")


def _keys(payload: Any) -> tuple[str | None, str | None]:
    """(chat_key, group_key) of a stored Telegram update, as bot/telegram/adapter.py reads them."""
    if not isinstance(payload, dict):
        return None, None

    def chat_of(obj: Any) -> str | None:
        chat = obj.get("chat") if isinstance(obj, dict) else None
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        return str(chat_id) if isinstance(chat_id, int) and not isinstance(chat_id, bool) else None

    for kind in ("message", "edited_message"):
        message = payload.get(kind)
        if isinstance(message, dict):
            group = message.get("media_group_id") if kind == "message" else None
            return chat_of(message), (str(group)[:64] if group else None)
    query = payload.get("callback_query")
    if isinstance(query, dict):
        chat = chat_of(query.get("message"))
        sender = query.get("from")
        user_id = sender.get("id") if isinstance(sender, dict) else None
        if chat is None and isinstance(user_id, int):
            chat = str(user_id)
        return chat, None
    return chat_of(payload.get("my_chat_member")), None


def upgrade() -> None:
    op.drop_index("ix_inbound_update_pending", table_name="inbound_update")
    with op.batch_alter_table("inbound_update", schema=None) as batch_op:
        batch_op.alter_column(
            "failures",
            new_column_name="attempts",
            existing_type=sa.Integer(),
            existing_nullable=False,
            existing_server_default="0",
        )
        batch_op.add_column(
            sa.Column("chat_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("group_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("has_files", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index(
        "ix_inbound_update_pending",
        "inbound_update",
        ["channel", "update_id"],
        unique=False,
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )
    op.create_index(
        "ix_inbound_update_pending_chat",
        "inbound_update",
        ["channel", "chat_key", "update_id"],
        unique=False,
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )

    inbound = sa.table(
        "inbound_update",
        sa.column("channel", sa.String),
        sa.column("update_id", sa.BigInteger),
        sa.column("payload", sa.JSON),
        sa.column("processed_at", sa.DateTime(timezone=True)),
        sa.column("chat_key", sa.String),
        sa.column("group_key", sa.String),
        sa.column("attempts", sa.Integer),
    )
    conn = op.get_bind()
    pending = conn.execute(
        sa.select(inbound.c.channel, inbound.c.update_id, inbound.c.payload).where(
            inbound.c.processed_at.is_(None), inbound.c.payload.is_not(None)
        )
    ).fetchall()
    for channel, update_id, payload in pending:
        chat_key, group_key = _keys(payload)
        conn.execute(
            inbound.update()
            .where(inbound.c.channel == channel, inbound.c.update_id == update_id)
            # The old count of replays included starts at which the update was merely
            # waiting: nothing says it was in hand at a crash, so it starts afresh.
            .values(chat_key=chat_key, group_key=group_key, attempts=0)
        )


def downgrade() -> None:
    op.drop_index("ix_inbound_update_pending_chat", table_name="inbound_update")
    op.drop_index("ix_inbound_update_pending", table_name="inbound_update")
    with op.batch_alter_table("inbound_update", schema=None) as batch_op:
        batch_op.drop_column("has_files")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("group_key")
        batch_op.drop_column("chat_key")
        batch_op.alter_column(
            "attempts",
            new_column_name="failures",
            existing_type=sa.Integer(),
            existing_nullable=False,
            existing_server_default="0",
        )
    op.create_index(
        "ix_inbound_update_pending", "inbound_update", ["channel", "processed_at"], unique=False
    )
