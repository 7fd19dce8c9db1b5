"""goals and milestones

Revision ID: d71da32d0617
Revises: 3c3554eda44a
Create Date: 2026-11-23 13:01:58.493256
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import mentorapi.db.types

revision: str = 'd71da32d0617'
down_revision: str | None = '3c3554eda44a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('goals',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('mentee_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('skill_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('target_date', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_goals_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['mentee_id'], ['mentees.id'], name=op.f('fk_goals_mentee_id_mentees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['skill_id'], ['skills.id'], name=op.f('fk_goals_skill_id_skills'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_goals'))
    )
    with op.batch_alter_table('goals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goals_app_id'), ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_goals_mentee_id'), ['mentee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_goals_skill_id'), ['skill_id'], unique=False)

    op.create_table('milestones',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('goal_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('target_date', sa.Date(), nullable=True),
    sa.Column('done_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_milestones_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['goal_id'], ['goals.id'], name=op.f('fk_milestones_goal_id_goals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_milestones'))
    )
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_milestones_app_id'), ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_milestones_goal_id'), ['goal_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_milestones_goal_id'))
        batch_op.drop_index(batch_op.f('ix_milestones_app_id'))

    op.drop_table('milestones')
    with op.batch_alter_table('goals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_goals_skill_id'))
        batch_op.drop_index(batch_op.f('ix_goals_mentee_id'))
        batch_op.drop_index(batch_op.f('ix_goals_app_id'))

    op.drop_table('goals')
