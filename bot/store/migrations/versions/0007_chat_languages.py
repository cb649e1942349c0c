"""chat languages: the language each chat is answered in

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

``chat_languages`` holds one row per chat that chose a language with ``/lang`` or was set up
(first subscribed): ``choice`` is ``zh``, ``en`` or ``auto``; ``auto`` follows
``setup_language``, the platform language of the user who set the chat up.
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chat_languages',
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=100), nullable=False),
    sa.Column('choice', sa.String(length=8), nullable=False),
    sa.Column('setup_language', sa.String(length=8), nullable=True),
    sa.Column('set_by', sa.String(length=100), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('platform', 'chat_id')
    )


def downgrade() -> None:
    op.drop_table('chat_languages')
