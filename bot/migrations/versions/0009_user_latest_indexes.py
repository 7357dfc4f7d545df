"""(user_id, id) indexes for "a user's latest turn, ticket, case, pushed message"

With user_id alone, PostgreSQL answered `WHERE user_id = ? ORDER BY id DESC LIMIT 1` for a user with no rows by
walking the whole table backwards by primary key (issue 9's soak slowed as the turn table grew).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 14:04:15.761196
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TABLES = ('case', 'outbound_message', 'ticket', 'turn')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_user_id'))
            batch_op.create_index(f'ix_{table}_user_latest', ['user_id', 'id'], unique=False)


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_user_latest')
            batch_op.create_index(batch_op.f(f'ix_{table}_user_id'), ['user_id'], unique=False)
