"""outbox classes

Revision ID: 0004_outbox_priority_sizes
Revises: 0003
Create Date: 2026-11-24

- `outbox.priority`: a row's class (models.enums.OutboxPriority). In a chat, answers to
  group commands (1) wait behind everything else (0): new cases, alerts, actions.
  Existing rows are of the normal class.

Reviewed by hand; no app imports.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0004_outbox_priority_sizes"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("priority")
