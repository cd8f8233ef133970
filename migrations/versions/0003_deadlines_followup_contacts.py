"""deadlines, officer tools, follow-up, duplicates, contact points

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

- `case`: urgency and the three deadlines (acknowledge, verify, result), who took it,
  escalation to the province, referral, merge into another case, the reporter's
  satisfaction answer and how often it was reopened.
- `case_reporter`: reporters of the same incident who joined a case.
- `deadline_alert`: reminders and overdue alerts sent (once each per deadline cycle).
- `digest_run`: daily digests sent (once per local day).
- `ward_contact`: the wards' official contact points (seed 001).
- `group_link.is_forum`: a forum supergroup gets one topic per case.

Cases filed before this version get acknowledge/result deadlines from their filing time
with the default policy (2 h, 10 days); their verification deadline is kept as told.
Reviewed by hand; no app imports.
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("ack_due_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("result_due_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("verified_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("assignee", _STR(length=128), nullable=True))
        batch_op.add_column(sa.Column("escalated_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("escalation_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("province_owned", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("referred_to", _STR(length=200), nullable=True))
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("satisfaction", _STR(length=8), nullable=True))
        batch_op.add_column(sa.Column("satisfaction_at", _TS, nullable=True))
        batch_op.add_column(
            sa.Column("reopened_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index(
            batch_op.f("ix_case_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_case_merged_into_id_case", "case", ["merged_into_id"], ["id"]
        )

    with op.batch_alter_table("group_link", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_forum", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    op.create_table(
        "case_reporter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", _TS, nullable=False),
        sa.Column("contact_shared", sa.Boolean(), nullable=False),
        sa.Column("contact_phone", _STR(length=32), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["reporter_id"], ["reporter.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "reporter_id", name="uq_case_reporter"),
    )
    with op.batch_alter_table("case_reporter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_reporter_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_case_reporter_reporter_id"), ["reporter_id"], unique=False
        )

    op.create_table(
        "deadline_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("deadline", _STR(length=16), nullable=False),
        sa.Column("stage", _STR(length=16), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("sent_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "deadline", "stage", "cycle", name="uq_deadline_alert"),
    )
    with op.batch_alter_table("deadline_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deadline_alert_case_id"), ["case_id"], unique=False)

    op.create_table(
        "digest_run",
        sa.Column("day", _STR(length=10), nullable=False),
        sa.Column("sent_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "ward_contact",
        sa.Column("ward_code", _STR(length=5), nullable=False),
        sa.Column("receive_phone", _STR(length=32), nullable=True),
        sa.Column("receive_email", _STR(length=254), nullable=True),
        sa.Column("handle_phone", _STR(length=32), nullable=True),
        sa.Column("handle_email", _STR(length=254), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("ward_code"),
    )

    # Cases filed before this version get the default policy's other deadlines.
    case = sa.table(
        "case",
        sa.column("id", sa.Integer),
        sa.column("filed_at", _TS),
        sa.column("ack_due_at", _TS),
        sa.column("result_due_at", _TS),
    )
    conn = op.get_bind()
    for case_id, filed_at in conn.execute(sa.select(case.c.id, case.c.filed_at)).fetchall():
        conn.execute(
            case.update()
            .where(case.c.id == case_id)
            .values(
                ack_due_at=filed_at + timedelta(hours=2),
                result_due_at=filed_at + timedelta(days=10),
            )
        )


def downgrade() -> None:
    op.drop_table("ward_contact")
    op.drop_table("digest_run")
    with op.batch_alter_table("deadline_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadline_alert_case_id"))
    op.drop_table("deadline_alert")
    with op.batch_alter_table("case_reporter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_reporter_reporter_id"))
        batch_op.drop_index(batch_op.f("ix_case_reporter_case_id"))
    op.drop_table("case_reporter")
    with op.batch_alter_table("group_link", schema=None) as batch_op:
        batch_op.drop_column("is_forum")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_constraint("fk_case_merged_into_id_case", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_case_merged_into_id"))
        for column in (
            "reopened_count",
            "satisfaction_at",
            "satisfaction",
            "merged_into_id",
            "referred_to",
            "province_owned",
            "escalation_reason",
            "escalated_at",
            "assignee",
            "verified_at",
            "result_due_at",
            "ack_due_at",
            "urgent",
        ):
            batch_op.drop_column(column)
