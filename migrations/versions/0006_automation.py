"""Automation: timers, SLA clocks, schedule runs, approvals, assignment cursors, deliveries; outbox keys.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 09:14:03.421648
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tessera_approval',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('process', sa.String(length=120), nullable=False),
    sa.Column('submission', sa.String(length=36), nullable=False),
    sa.Column('step', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('approver_user', sa.String(length=36), nullable=True),
    sa.Column('approver_role', sa.String(length=64), nullable=True),
    sa.Column('submitted_by', sa.String(length=36), nullable=True),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by', sa.String(length=36), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tessera_approval', schema=None) as batch_op:
        batch_op.create_index('ix_tessera_approval_record', ['entity', 'record_id', 'submitted_at'], unique=False)

    op.create_table('tessera_assignment_cursor',
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('last_user', sa.String(length=36), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('rule')
    )
    op.create_table('tessera_delivery',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('outbox_id', sa.String(length=36), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tessera_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_tessera_delivery_outbox', ['outbox_id', 'at'], unique=False)

    op.create_table('tessera_schedule_run',
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('period', sa.String(length=64), nullable=False),
    sa.Column('ran_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('rule', 'record_id', 'period')
    )
    op.create_table('tessera_sla_clock',
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('milestone', sa.String(length=64), nullable=False),
    sa.Column('policy', sa.String(length=120), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('target_seconds', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('paused_at', sa.DateTime(), nullable=True),
    sa.Column('paused_seconds', sa.Integer(), nullable=False),
    sa.Column('met_at', sa.DateTime(), nullable=True),
    sa.Column('breached_at', sa.DateTime(), nullable=True),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('entity', 'record_id', 'milestone')
    )
    op.create_table('tessera_timer',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('fired_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity', 'record_id', 'name', name='uq_tessera_timer_record_name')
    )
    with op.batch_alter_table('tessera_timer', schema=None) as batch_op:
        batch_op.create_index('ix_tessera_timer_due', ['state', 'due_at'], unique=False)

    with op.batch_alter_table('tessera_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('available_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('entity', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('record_id', sa.String(length=36), nullable=True))
        batch_op.create_index('ix_tessera_outbox_due', ['state', 'available_at'], unique=False)
        batch_op.create_index('uq_tessera_outbox_key', ['key'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('tessera_outbox', schema=None) as batch_op:
        batch_op.drop_index('uq_tessera_outbox_key')
        batch_op.drop_index('ix_tessera_outbox_due')
        batch_op.drop_column('record_id')
        batch_op.drop_column('entity')
        batch_op.drop_column('available_at')
        batch_op.drop_column('key')

    with op.batch_alter_table('tessera_timer', schema=None) as batch_op:
        batch_op.drop_index('ix_tessera_timer_due')

    op.drop_table('tessera_timer')
    op.drop_table('tessera_sla_clock')
    op.drop_table('tessera_schedule_run')
    with op.batch_alter_table('tessera_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_tessera_delivery_outbox')

    op.drop_table('tessera_delivery')
    op.drop_table('tessera_assignment_cursor')
    with op.batch_alter_table('tessera_approval', schema=None) as batch_op:
        batch_op.drop_index('ix_tessera_approval_record')

    op.drop_table('tessera_approval')
