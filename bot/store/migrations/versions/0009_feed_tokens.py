"""feed tokens: personal feed links that do not expire, revocable

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-07

``feed_tokens`` holds one row per personal feed link given with ``/feeds``: its id (the link
carries it with an HMAC made with ``DIGESTBOT_WEB_SECRET``), whose it is, when it was made and
last used. Revoking a link deletes its row.
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feed_tokens',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_feed_tokens_person', 'feed_tokens', ['platform', 'user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_feed_tokens_person', table_name='feed_tokens')
    op.drop_table('feed_tokens')
