"""material pre-checks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 06:22:33.301460
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('precheck',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('item_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('item_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('have', sa.JSON(), nullable=False),
    sa.Column('missing', sa.JSON(), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('supply_by', sa.Date(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    with op.batch_alter_table('precheck', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_precheck_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('precheck', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_precheck_user_id'))

    op.drop_table('precheck')
