"""assisted_service_contact: the phone and visiting address a 帮办代办 booking is taken with

Staff phone the citizen before the appointment and, for someone who cannot come in, go to the address; the
bookings had neither.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('appointment') as batch:
        batch.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch.add_column(sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('appointment') as batch:
        batch.drop_column('address')
        batch.drop_column('phone')
