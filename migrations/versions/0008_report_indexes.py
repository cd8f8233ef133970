"""indexes for the province's reports

Revision ID: 0008_report_indexes
Revises: 0007_inbox_queue
Create Date: 2026-11-24

- `case (province_code, filed_at)`: a report reads the cases filed in a period; with years
  of cases, a month's report reads that month's rows instead of the whole table.
- `case_event (action, case_id)`: the report counts the cases escalated, referred,
  reassigned and reopened from the log book; the index finds those few lines among all.

Reviewed by hand; no app imports.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_report_indexes"
down_revision: str | None = "0007_inbox_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index("ix_case_province_filed", ["province_code", "filed_at"])
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index("ix_case_event_action_case", ["action", "case_id"])


def downgrade() -> None:
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_index("ix_case_event_action_case")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_province_filed")
