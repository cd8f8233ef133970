"""publication control and Open311 API keys

Revision ID: 0010_web
Revises: 0009_outbox_chat_heads
Create Date: 2026-12-07

- `case.result_public` (default true) and `case.result_public_reason`: an officer may keep a
  closed case's result off the public pages and Open311 (handlers/publication.py).
- `reporter.email`: the optional email of an Open311 requester, confidential like a phone.
- `api_key`: keys of the systems that file Open311 requests; only a sha256 hash is kept.

Reviewed by hand; no app imports.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_web"
down_revision: str | None = "0009_outbox_chat_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("result_public", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("result_public_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("reporter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("api_key")
    with op.batch_alter_table("reporter", schema=None) as batch_op:
        batch_op.drop_column("email")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_column("result_public_reason")
        batch_op.drop_column("result_public")
