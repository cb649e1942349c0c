"""installations: the workspaces that installed the app, and OAuth states of installs under way

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-07

``installations`` holds one row per (platform, workspace) that installed the app through its
OAuth flow (Slack's "Add to Slack"): the bot token the gateway sends with there, and who
installed it (a bot admin of that workspace). Uninstalling keeps the row, inactive, without its
token. ``oauth_states`` holds the ``state`` of each install begun, consumed once.
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('installations',
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('workspace', sa.String(length=40), nullable=False),
    sa.Column('enterprise_id', sa.String(length=40), nullable=True),
    sa.Column('team_id', sa.String(length=40), nullable=True),
    sa.Column('installer', sa.String(length=100), nullable=False),
    sa.Column('bot_token', sa.Text(), nullable=False),
    sa.Column('bot_user_id', sa.String(length=40), nullable=False),
    sa.Column('bot_id', sa.String(length=40), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uninstalled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('uninstall_reason', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('platform', 'workspace')
    )
    op.create_table('oauth_states',
    sa.Column('state', sa.String(length=100), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('state')
    )
    op.create_index('ix_oauth_states_expires_at', 'oauth_states', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_oauth_states_expires_at', table_name='oauth_states')
    op.drop_table('oauth_states')
    op.drop_table('installations')
