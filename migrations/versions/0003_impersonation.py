"""Impersonation: tokens and audit entries remember the administrator acting as a user.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tessera_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('impersonator', sa.String(length=36), nullable=True))
    with op.batch_alter_table('tessera_audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('impersonator', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tessera_audit', schema=None) as batch_op:
        batch_op.drop_column('impersonator')
    with op.batch_alter_table('tessera_token', schema=None) as batch_op:
        batch_op.drop_column('impersonator')
