"""inbox of inbound updates, outbox claims, link attempts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

- `processed_update` becomes `inbound_update`, the inbox: updates are stored on arrival
  (with their payload) and marked processed with their effects; already processed ids
  are carried over so a redelivery after the upgrade still has no effect.
- `outbox.claimed_until`: a sender claims a row (status 'sending') before delivering it.
- `link_attempt`: /link attempts per chat, to slow down guessing.

Reviewed by hand; no app imports.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_update",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("channel", "update_id"),
    )
    op.create_index(
        "ix_inbound_update_pending", "inbound_update", ["channel", "processed_at"], unique=False
    )
    op.execute(
        "INSERT INTO inbound_update (channel, update_id, payload, received_at, processed_at,"
        " failures) SELECT channel, update_id, NULL, processed_at, processed_at, 0"
        " FROM processed_update"
    )
    op.drop_table("processed_update")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "link_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_link_attempt_chat_at", "link_attempt", ["channel", "chat_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_link_attempt_chat_at", table_name="link_attempt")
    op.drop_table("link_attempt")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
    op.create_table(
        "processed_update",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "update_id"),
    )
    op.execute(
        "INSERT INTO processed_update (channel, update_id, processed_at)"
        " SELECT channel, update_id, processed_at FROM inbound_update"
        " WHERE processed_at IS NOT NULL"
    )
    op.drop_index("ix_inbound_update_pending", table_name="inbound_update")
    op.drop_table("inbound_update")
