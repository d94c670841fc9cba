"""price corrections: the committee's arithmetic correction of a bid price and the bidder's answer

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:00:00
"""
from alembic import op
import sqlalchemy as sa
import core.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('price_corrections',
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('bidder_id', sa.Integer(), nullable=False),
    sa.Column('clarification_id', sa.Integer(), nullable=False),
    sa.Column('read_out_price', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('corrected_price', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('proposed', 'accepted', 'refused', 'expired', name='correctionstate', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=False),
    sa.Column('proposed_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['bidder_id'], ['evaluated_bids.id'], name=op.f('fk_price_corrections_bidder_id_evaluated_bids')),
    sa.ForeignKeyConstraint(['clarification_id'], ['evaluation_clarifications.id'], name=op.f('fk_price_corrections_clarification_id_evaluation_clarifications')),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id'], name=op.f('fk_price_corrections_evaluation_id_evaluations')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_price_corrections_proposed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_corrections')),
    sa.UniqueConstraint('clarification_id', name=op.f('uq_price_corrections_clarification_id'))
    )
    with op.batch_alter_table('price_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_price_corrections_bidder_id'), ['bidder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_price_corrections_evaluation_id'), ['evaluation_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('price_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_price_corrections_evaluation_id'))
        batch_op.drop_index(batch_op.f('ix_price_corrections_bidder_id'))

    op.drop_table('price_corrections')
