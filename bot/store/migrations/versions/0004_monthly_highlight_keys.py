"""items: insights and the radar are each month's own (their key carries the period)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Before, every month's "Crucial Insight" had the key ``insight:crucialinsight``, so a newer month's
superseded the older one in lookups and digests. The key is now ``insight:2026-01:crucialinsight``
(see ``digests.items.Item.key``); rows stored before are given it here, so a reparse or a
re-upload finds them by their new key and keeps their identity (and what chats were sent).
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE items SET key = kind || ':' || period || ':' || name_norm "
            "WHERE kind IN ('insight', 'radar') AND key = kind || ':' || name_norm"
        )
    )


def downgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE items SET key = kind || ':' || name_norm "
            "WHERE kind IN ('insight', 'radar') AND key = kind || ':' || period || ':' || name_norm"
        )
    )
