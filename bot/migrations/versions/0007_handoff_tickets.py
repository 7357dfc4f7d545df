"""handoff tickets

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 08:06:09.204646
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('window', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('queued_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_staff'), ['staff'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_window'), ['window'], unique=False)

    op.create_table('ticket_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('staff', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticket_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_message_ticket_id'), ['ticket_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ticket_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_message_ticket_id'))

    op.drop_table('ticket_message')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_window'))
        batch_op.drop_index(batch_op.f('ix_ticket_user_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_status'))
        batch_op.drop_index(batch_op.f('ix_ticket_staff'))

    op.drop_table('ticket')
