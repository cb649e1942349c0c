"""outbox worker: dead-letter time, per-chat index, worker heartbeats

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

``outbox.dead_at`` dates dead letters (``/status`` counts those of the last 24 h).
``ix_outbox_chat`` serves per-chat moves, dead-lettering and the claim's "chat busy elsewhere" test.
``outbox_workers`` holds one heartbeat row per running outbox worker: leases are renewed with it,
and global rate limits are divided among the workers seen alive (see ``bot/ratelimit.py``).
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dead_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_outbox_chat', ['platform', 'chat_id', 'status'], unique=False)
    op.create_table('outbox_workers',
    sa.Column('worker_id', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker_id')
    )
    with op.batch_alter_table('outbox_workers', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_workers_seen_at', ['seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_workers', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_workers_seen_at')
    op.drop_table('outbox_workers')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_chat')
        batch_op.drop_column('dead_at')
