"""samples marked, items one per thing

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

``reports.sample`` marks the bundled sample reports the first console start stores: the first real
report removes them (``Store.ingest``). Items keep their table: their key now prefers an arXiv id or
canonical link to the name (``digests.items.Item.key``), and ``digestbot reparse`` re-keys the items
already stored, merging the copies of one paper under two titles.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (a batch copy of ``reports`` would trip the items' foreign key)
    op.add_column(
        'reports', sa.Column('sample', sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column('reports', 'sample')
