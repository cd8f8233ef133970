"""the ward a reporter's shared phone belongs to

Revision ID: 0004_contact_ward
Revises: 0003
Create Date: 2026-12-07

A reporter's phone is shown only to the groups of the ward they shared it with (the one
they reported to), whatever reassignment or merge follows (handlers/audience.py).

- `case.contact_ward_code`: for the reporter who filed the case.
- `case_reporter.contact_ward_code`: for a reporter who joined it, or came with a merge.

Existing rows that shared a phone are filled in from the log book: a case's filing ward
(before its first reassignment, "A -> B"); a joined reporter's, the case's ward when they
joined; a reporter moved by a merge keeps the ward of the case they came from. Reviewed by
hand; no app imports.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0004_contact_ward"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_ward_code", _STR(length=5), nullable=True))
    with op.batch_alter_table("case_reporter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_ward_code", _STR(length=5), nullable=True))
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("case_reporter", schema=None) as batch_op:
        batch_op.drop_column("contact_ward_code")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_column("contact_ward_code")


def _ward_at(moves: list[tuple[Any, str, str]], ward_now: str, moment: Any = None) -> str:
    """A case's ward at `moment` (None: at filing), from its reassignments (at, from, to)."""
    if not moves:
        return ward_now
    if moment is None:
        return moves[0][1]
    for at, before, _after in moves:
        if at > moment:
            return before
    return ward_now


def _backfill() -> None:
    case = sa.table(
        "case",
        sa.column("id", sa.Integer),
        sa.column("ward_code", sa.String),
        sa.column("reporter_id", sa.Integer),
        sa.column("contact_shared", sa.Boolean),
        sa.column("merged_into_id", sa.Integer),
        sa.column("contact_ward_code", sa.String),
    )
    joined = sa.table(
        "case_reporter",
        sa.column("id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("reporter_id", sa.Integer),
        sa.column("joined_at", _TS),
        sa.column("contact_shared", sa.Boolean),
        sa.column("contact_ward_code", sa.String),
    )
    event = sa.table(
        "case_event",
        sa.column("id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("at", _TS),
        sa.column("action", sa.String),
        sa.column("note", sa.Text),
    )
    conn = op.get_bind()
    moves: dict[int, list[tuple[Any, str, str]]] = {}
    rows = conn.execute(
        sa.select(event.c.case_id, event.c.at, event.c.note)
        .where(event.c.action == "reassign")
        .order_by(event.c.id)
    )
    for case_id, at, note in rows:
        before, _, after = (note or "").partition(" -> ")
        if before and after:
            moves.setdefault(case_id, []).append((at, before.strip(), after.strip()))
    cases = {
        row.id: row
        for row in conn.execute(
            sa.select(
                case.c.id,
                case.c.ward_code,
                case.c.reporter_id,
                case.c.contact_shared,
                case.c.merged_into_id,
            )
        )
    }
    filed_ward = {cid: _ward_at(moves.get(cid, []), row.ward_code) for cid, row in cases.items()}
    for cid, row in cases.items():
        if row.contact_shared:
            conn.execute(
                case.update().where(case.c.id == cid).values(contact_ward_code=filed_ward[cid])
            )
    rows_of: dict[int, list[Any]] = {}
    for row in conn.execute(sa.select(joined)):
        rows_of.setdefault(row.case_id, []).append(row)
    for cid, members in rows_of.items():
        target = cases.get(cid)
        if target is None:
            continue
        sources = [c for c in cases.values() if c.merged_into_id == cid]
        for member in members:
            if not member.contact_shared:
                continue
            ward = _ward_at(moves.get(cid, []), target.ward_code, member.joined_at)
            for source in sources:  # moved here by a merge: the ward of the case it left
                if source.reporter_id == member.reporter_id:
                    ward = filed_ward[source.id]
                for other in rows_of.get(source.id, []):
                    if other.reporter_id == member.reporter_id:
                        ward = _ward_at(
                            moves.get(source.id, []), source.ward_code, other.joined_at
                        )
            conn.execute(
                joined.update().where(joined.c.id == member.id).values(contact_ward_code=ward)
            )
