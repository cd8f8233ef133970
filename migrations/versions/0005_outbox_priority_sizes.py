"""outbox classes; columns sized for what the channel sends

Revision ID: 0005_outbox_priority_sizes
Revises: 0004_contact_ward
Create Date: 2026-11-24

- `outbox.priority`: a row's class (models.enums.OutboxPriority). In a chat, answers to
  group commands (1) wait behind everything else (0): new cases, alerts, actions.
  Existing rows are of the normal class.
- `reporter.full_name`: 128 → 256 characters. A Telegram first name and last name have up
  to 64 characters each, so a full name has up to 129: it overflowed VARCHAR(128) on
  PostgreSQL (SQLite does not enforce lengths) and every Confirm with a shared contact
  failed. The core also cuts names at input to the column (handlers/core.py), for
  channels with longer names.

Every other column that takes user or channel data was checked: free texts are TEXT
(description, address, result, notes, reasons, questions); bounded inputs are checked
before they are stored (suspected source 200, agency 200, a phone number by its pattern);
officers' names are cut to 80 characters in the log book's actor (128); a file's MIME
type is cut at input to `evidence.mime_type`'s 128; topic names are cut to Telegram's 128;
channel ids fit their 64.

Reviewed by hand; no app imports. Downgrading cuts longer names to 128 characters.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0005_outbox_priority_sizes"
down_revision: str | None = "0004_contact_ward"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("reporter", schema=None) as batch_op:
        batch_op.alter_column(
            "full_name",
            existing_type=_STR(length=128),
            type_=_STR(length=256),
            existing_nullable=True,
        )


def downgrade() -> None:
    op.execute("UPDATE reporter SET full_name = substr(full_name, 1, 128)")
    with op.batch_alter_table("reporter", schema=None) as batch_op:
        batch_op.alter_column(
            "full_name",
            existing_type=_STR(length=256),
            type_=_STR(length=128),
            existing_nullable=True,
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("priority")
