"""the Zalo channel: inbox dedupe key, chat menus

Revision ID: 0011_zalo
Revises: 0010_web
Create Date: 2026-12-07

- `inbound_update.dedupe_key` and the unique index `ux_inbound_update_dedupe` on
  (channel, dedupe_key): Zalo updates have no id, a redelivery is recognised by
  "<event_name>:<message_id>" (NULL for Telegram: NULLs never clash in a unique index).
- `zalo_chat_menu`: the numbered menu each Zalo chat was last offered, and the officer's
  question its next text answers (bot/channels/zalo/menus.py).

Reviewed by hand; no app imports.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_zalo"
down_revision: str | None = "0010_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_update", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=128), nullable=True))
    op.create_index(
        "ux_inbound_update_dedupe", "inbound_update", ["channel", "dedupe_key"], unique=True
    )
    op.create_table(
        "zalo_chat_menu",
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("reply_to", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )


def downgrade() -> None:
    op.drop_table("zalo_chat_menu")
    op.drop_index("ux_inbound_update_dedupe", table_name="inbound_update")
    with op.batch_alter_table("inbound_update", schema=None) as batch_op:
        batch_op.drop_column("dedupe_key")
