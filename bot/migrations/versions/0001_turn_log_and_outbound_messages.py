"""turn log and outbound messages

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 04:42:51.420283
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outbound_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('reply', sa.JSON(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_message_user_id'), ['user_id'], unique=False)

    op.create_table('turn',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('msg_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('intent', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('flow', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('replies', sa.JSON(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'msg_id', name='uq_turn_user_msg')
    )
    with op.batch_alter_table('turn', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_turn_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('turn', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_turn_user_id'))

    op.drop_table('turn')
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_message_user_id'))

    op.drop_table('outbound_message')
