"""index for each chat's next outbox row

Revision ID: 0009_outbox_chat_heads
Revises: 0008_report_indexes
Create Date: 2026-12-07

- `outbox (channel, chat_id, status, priority, id)`: the sender asks, for each row that is
  due, whether an earlier undelivered row of the same chat exists (services.outbox._is_head);
  the index answers with one probe, so a pass costs what is due, not the whole queue.

Reviewed by hand; no app imports.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_outbox_chat_heads"
down_revision: str | None = "0008_report_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_chat_head", ["channel", "chat_id", "status", "priority", "id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_chat_head")
