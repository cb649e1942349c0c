"""buttons: tokens for long button commands, and feedback on digest entries

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

``action_tokens`` keeps a button's command under a short token when the platform's button payload
is too small for it (Telegram's ``callback_data`` holds 64 bytes); tokens expire.
``feedback`` holds the 👍 / 👎 pressed on digest entries, per chat, item and user.
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('action_tokens',
    sa.Column('token', sa.String(length=16), nullable=False),
    sa.Column('command', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token')
    )
    with op.batch_alter_table('action_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_action_tokens_expires_at', ['expires_at'], unique=False)
    op.create_table('feedback',
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=100), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=100), nullable=False),
    sa.Column('vote', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('platform', 'chat_id', 'item_id', 'user_id')
    )


def downgrade() -> None:
    op.drop_table('feedback')
    with op.batch_alter_table('action_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_action_tokens_expires_at')
    op.drop_table('action_tokens')
