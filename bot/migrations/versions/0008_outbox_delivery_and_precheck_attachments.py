"""outbox delivery and pre-check attachments

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 08:57:44.215798
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_outbound_message_undelivered', ['delivered_at', 'created_at'], unique=False)
    # Rows pushed before this revision were handed to the old in-process sender already: count them as delivered,
    # so the first redelivery round after the upgrade does not send them all again.
    op.execute("UPDATE outbound_message SET delivered_at = created_at")

    with op.batch_alter_table('precheck', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.JSON(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('precheck', schema=None) as batch_op:
        batch_op.drop_column('attachments')

    with op.batch_alter_table('outbound_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_message_undelivered')
        batch_op.drop_column('delivered_at')

