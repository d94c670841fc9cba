"""media room members keep their muted tracks (a force-mute survives a media restart)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('media_room_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('muted_tracks', sa.String(length=20), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('media_room_members', schema=None) as batch_op:
        batch_op.drop_column('muted_tracks')
