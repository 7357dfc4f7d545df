"""record_counter: the last number given under each daily prefix (core/numbering.py)

Two workers used to carry their own count on and settle clashes on the unique number by retrying; saturated,
one kept losing until it gave up (issue 9's soak). The counter row is locked by the transaction that takes a
number, so workers queue on it instead.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 21:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('record_counter',
                    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
                    sa.Column('last', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('prefix'))


def downgrade() -> None:
    op.drop_table('record_counter')
