"""digest choice over indexes: the theme in digest order, newer copies, the items' generation

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

``ix_items_digest_order`` (theme, removed, period DESC, position, id) is walked by the query that
picks a chat's next items and stops after a digest's worth. ``ix_items_theme_key`` answers "is
there a newer copy of this item?" per row, and counts a theme's distinct keys.
``ix_items_updated_at`` makes the items' generation (max id, max updated_at) an index lookup.
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_items_digest_order',
        'items',
        ['theme', 'removed', sa.text('period DESC'), 'position', 'id'],
        unique=False,
    )
    op.create_index(
        'ix_items_theme_key', 'items', ['theme', 'key', 'removed', 'period'], unique=False
    )
    op.create_index('ix_items_updated_at', 'items', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_items_updated_at', table_name='items')
    op.drop_index('ix_items_theme_key', table_name='items')
    op.drop_index('ix_items_digest_order', table_name='items')
