"""draw list keys: the drawn list's key wrapped to the evaluation service and to each supervisor of the draw

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:30:00

Draws sealed before this revision used keys derived from SECRET_KEY; they cannot be opened by the new code
(there is no legacy path: no deployment holds such draws yet).
"""
from alembic import op
import sqlalchemy as sa
import core.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('draw_list_keys',
    sa.Column('draw_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.Enum('evaluation', 'supervision', name='listkeyrecipient', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('certificate_id', sa.Integer(), nullable=True),
    sa.Column('algorithm', sa.String(length=40), nullable=False),
    sa.Column('recipient_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('recipient_key', sa.String(length=64), nullable=False),
    sa.Column('wrapped', sa.Text(), nullable=False),
    sa.Column('ephemeral_key', sa.String(length=130), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_draw_list_keys_certificate_id_certificates')),
    sa.ForeignKeyConstraint(['draw_id'], ['draws.id'], name=op.f('fk_draw_list_keys_draw_id_draws')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_draw_list_keys_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_draw_list_keys')),
    sa.UniqueConstraint('draw_id', 'recipient_fingerprint', name=op.f('uq_draw_list_keys_draw_id_recipient_fingerprint'))
    )
    with op.batch_alter_table('draw_list_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_draw_list_keys_draw_id'), ['draw_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_draw_list_keys_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('draw_list_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_draw_list_keys_user_id'))
        batch_op.drop_index(batch_op.f('ix_draw_list_keys_draw_id'))

    op.drop_table('draw_list_keys')
