"""outbox: count sends that may have been delivered

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``outbox.maybe_count`` counts tries that got no readable answer (a timeout after sending, a 200
that is not JSON): such a row is tried at most ``DIGESTBOT_SEND_MAYBE_ATTEMPTS`` more times, then
finished with status ``maybe``.
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('maybe_count', sa.Integer(), nullable=False, server_default='0')
        )


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('maybe_count')
