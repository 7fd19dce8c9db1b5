"""mentor stats for sorting

Revision ID: 4eaebcb5adb5
Revises: d71da32d0617
Create Date: 2026-11-23 13:03:16.100481
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import mentorapi.db.types

revision: str = '4eaebcb5adb5'
down_revision: str | None = 'd71da32d0617'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rating_avg', sa.Float(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('mentees_helped', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('impact_stories', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch_op.create_index('ix_mentors_app_id_rating_avg_id', ['app_id', 'rating_avg', 'id'], unique=False)
        batch_op.create_index('ix_mentors_app_id_sessions_completed_id', ['app_id', 'sessions_completed', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.drop_index('ix_mentors_app_id_sessions_completed_id')
        batch_op.drop_index('ix_mentors_app_id_rating_avg_id')
        batch_op.drop_column('impact_stories')
        batch_op.drop_column('mentees_helped')
        batch_op.drop_column('rating_avg')

