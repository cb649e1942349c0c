"""watches: a chat's standing searches, and the items each has told it about

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-07

``watches`` holds one row per chat and watched words (``words_key`` is the words folded, so
``DeepSeek`` and ``deepseek`` are one watch). ``watch_hits`` records every (watch, item) a chat was
told about, in the same transaction as the outbox row that tells it: an item is never announced
twice for the same watch, and nothing is lost across a restart.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('watches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=100), nullable=False),
    sa.Column('chat_kind', sa.String(length=20), nullable=False),
    sa.Column('words', sa.String(length=200), nullable=False),
    sa.Column('words_key', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('platform', 'chat_id', 'words_key', name='uq_watch')
    )
    op.create_table('watch_hits',
    sa.Column('watch_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('matched_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['watch_id'], ['watches.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('watch_id', 'item_id')
    )
    op.create_index('ix_watch_hits_item', 'watch_hits', ['item_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_watch_hits_item', table_name='watch_hits')
    op.drop_table('watch_hits')
    op.drop_table('watches')
