"""A TOTP code signs in once: the time step of the last code used.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tessera_credential', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_step', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tessera_credential', schema=None) as batch_op:
        batch_op.drop_column('totp_step')
