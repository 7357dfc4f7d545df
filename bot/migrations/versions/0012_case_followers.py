"""case_followers: the other chats of a case's citizen

A citizen who files the same complaint again from a new chat (a web session that expired, WeChat after the web)
was told it was filed already, but 进度 in that chat did not list it and its progress was not told there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.db import UTCDateTime

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'case_follower',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('case.id'), nullable=False),
        sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('case_id', 'user_id', name='uq_case_follower'),
    )
    op.create_index(op.f('ix_case_follower_case_id'), 'case_follower', ['case_id'], unique=False)
    op.create_index(op.f('ix_case_follower_user_id'), 'case_follower', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_case_follower_user_id'), table_name='case_follower')
    op.drop_index(op.f('ix_case_follower_case_id'), table_name='case_follower')
    op.drop_table('case_follower')
