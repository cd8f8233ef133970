"""duplicate lookup: the square of each pinned case, and indexes for the lookup

Revision ID: 0006_duplicate_index
Revises: 0005_outbox_priority_sizes
Create Date: 2026-11-24

- `case.geo_cell`: the square (0.01 degree side) of the case's GPS pin, as one integer
  (row of latitude * 100000 + column of longitude); NULL without a pin. Existing pinned
  cases get theirs here, with the same formula as `models.tables.geo_cell`.
- `ix_case_dup_pin` (geo_cell, category, filed_at) and `ix_case_dup_ward`
  (ward_code, category, filed_at): the lookup at Confirm reads only the squares around a
  new report and the wards whose centroid is within reach, in the duplicate window.

Reviewed by hand; no app imports.
"""

import math
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0006_duplicate_index"
down_revision: str | None = "0005_outbox_priority_sizes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CELL_DEG = 0.01
_ROW = 100_000


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("geo_cell", sa.Integer(), nullable=True))
        batch_op.create_index("ix_case_dup_pin", ["geo_cell", "category", "filed_at"])
        batch_op.create_index("ix_case_dup_ward", ["ward_code", "category", "filed_at"])

    case = sa.table(
        "case",
        sa.column("id", sa.Integer()),
        sa.column("latitude", sa.Float()),
        sa.column("longitude", sa.Float()),
        sa.column("geo_cell", sa.Integer()),
    )
    conn = op.get_bind()
    pinned = conn.execute(
        sa.select(case.c.id, case.c.latitude, case.c.longitude).where(
            case.c.latitude.is_not(None), case.c.longitude.is_not(None)
        )
    ).all()
    for case_id, latitude, longitude in pinned:
        cell = math.floor(latitude / _CELL_DEG) * _ROW + math.floor(longitude / _CELL_DEG)
        conn.execute(sa.update(case).where(case.c.id == case_id).values(geo_cell=cell))


def downgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_dup_ward")
        batch_op.drop_index("ix_case_dup_pin")
        batch_op.drop_column("geo_cell")
