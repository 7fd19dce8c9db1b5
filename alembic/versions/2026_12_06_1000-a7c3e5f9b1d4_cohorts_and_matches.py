"""cohorts and matches: cohort matching (#15, part 2)

Revision ID: a7c3e5f9b1d4
Revises: b3c5d7e9f1a2
Create Date: 2026-12-06 10:00:00

cohorts/models.py: `cohorts` with their `cohort_mentees`, `cohort_mentors` and `cohort_pairs`
(pins and forbids, referencing the member rows); `match_runs` (each a job), the
`match_proposals` a run writes with its success, and the `matches` a publish makes. Every key
starts with app_id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql
import mentorapi.db.types

revision: str = 'a7c3e5f9b1d4'
down_revision: str | None = "b3c5d7e9f1a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cohorts',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('mentors_per_mentee', sa.Integer(), nullable=False),
    sa.Column('default_capacity', sa.Integer(), nullable=False),
    sa.Column('objective', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('min_score', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_cohorts_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'id', name=op.f('pk_cohorts'))
    )
    op.create_table('cohort_mentees',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('cohort_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('mentee_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id', 'cohort_id'], ['cohorts.app_id', 'cohorts.id'], name=op.f('fk_cohort_mentees_app_id_cohorts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentee_id'], ['mentees.app_id', 'mentees.id'], name=op.f('fk_cohort_mentees_app_id_mentees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_cohort_mentees_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'cohort_id', 'mentee_id', name=op.f('pk_cohort_mentees'))
    )
    with op.batch_alter_table('cohort_mentees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cohort_mentees_mentee_id'), ['mentee_id'], unique=False)

    op.create_table('cohort_mentors',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('cohort_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('mentor_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('own_capacity', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id', 'cohort_id'], ['cohorts.app_id', 'cohorts.id'], name=op.f('fk_cohort_mentors_app_id_cohorts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentor_id'], ['mentors.app_id', 'mentors.id'], name=op.f('fk_cohort_mentors_app_id_mentors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_cohort_mentors_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'cohort_id', 'mentor_id', name=op.f('pk_cohort_mentors'))
    )
    with op.batch_alter_table('cohort_mentors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cohort_mentors_mentor_id'), ['mentor_id'], unique=False)

    op.create_table('match_runs',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('cohort_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('job_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('unmatched', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('stats', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('published_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['app_id', 'cohort_id'], ['cohorts.app_id', 'cohorts.id'], name=op.f('fk_match_runs_app_id_cohorts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'job_id'], ['jobs.app_id', 'jobs.id'], name=op.f('fk_match_runs_app_id_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_match_runs_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'id', name=op.f('pk_match_runs'))
    )
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_runs_cohort_id'), ['cohort_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_runs_job_id'), ['job_id'], unique=False)

    op.create_table('cohort_pairs',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('cohort_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('mentee_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('mentor_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id', 'cohort_id', 'mentee_id'], ['cohort_mentees.app_id', 'cohort_mentees.cohort_id', 'cohort_mentees.mentee_id'], name=op.f('fk_cohort_pairs_app_id_cohort_mentees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'cohort_id', 'mentor_id'], ['cohort_mentors.app_id', 'cohort_mentors.cohort_id', 'cohort_mentors.mentor_id'], name=op.f('fk_cohort_pairs_app_id_cohort_mentors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_cohort_pairs_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'cohort_id', 'mentee_id', 'mentor_id', name=op.f('pk_cohort_pairs'))
    )
    with op.batch_alter_table('cohort_pairs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cohort_pairs_mentor_id'), ['mentor_id'], unique=False)

    op.create_table('match_proposals',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('mentee_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('mentor_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('components', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['app_id', 'mentee_id'], ['mentees.app_id', 'mentees.id'], name=op.f('fk_match_proposals_app_id_mentees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentor_id'], ['mentors.app_id', 'mentors.id'], name=op.f('fk_match_proposals_app_id_mentors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'run_id'], ['match_runs.app_id', 'match_runs.id'], name=op.f('fk_match_proposals_app_id_match_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_match_proposals_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'id', name=op.f('pk_match_proposals'))
    )
    with op.batch_alter_table('match_proposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_proposals_mentee_id'), ['mentee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_proposals_mentor_id'), ['mentor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_proposals_run_id'), ['run_id'], unique=False)

    op.create_table('matches',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('cohort_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('proposal_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('mentee_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('mentor_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('components', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.ForeignKeyConstraint(['app_id', 'cohort_id'], ['cohorts.app_id', 'cohorts.id'], name=op.f('fk_matches_app_id_cohorts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentee_id'], ['mentees.app_id', 'mentees.id'], name=op.f('fk_matches_app_id_mentees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentor_id'], ['mentors.app_id', 'mentors.id'], name=op.f('fk_matches_app_id_mentors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'proposal_id'], ['match_proposals.app_id', 'match_proposals.id'], name=op.f('fk_matches_app_id_match_proposals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'run_id'], ['match_runs.app_id', 'match_runs.id'], name=op.f('fk_matches_app_id_match_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_matches_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'id', name=op.f('pk_matches')),
    sa.UniqueConstraint('app_id', 'cohort_id', 'mentee_id', 'mentor_id', name=op.f('uq_matches_app_id_cohort_id_mentee_id_mentor_id'))
    )
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_matches_mentee_id'), ['mentee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_matches_mentor_id'), ['mentor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_matches_proposal_id'), ['proposal_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_matches_run_id'), ['run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_matches_run_id'))
        batch_op.drop_index(batch_op.f('ix_matches_proposal_id'))
        batch_op.drop_index(batch_op.f('ix_matches_mentor_id'))
        batch_op.drop_index(batch_op.f('ix_matches_mentee_id'))

    op.drop_table('matches')
    with op.batch_alter_table('match_proposals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_proposals_run_id'))
        batch_op.drop_index(batch_op.f('ix_match_proposals_mentor_id'))
        batch_op.drop_index(batch_op.f('ix_match_proposals_mentee_id'))

    op.drop_table('match_proposals')
    with op.batch_alter_table('cohort_pairs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cohort_pairs_mentor_id'))

    op.drop_table('cohort_pairs')
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_runs_job_id'))
        batch_op.drop_index(batch_op.f('ix_match_runs_cohort_id'))

    op.drop_table('match_runs')
    with op.batch_alter_table('cohort_mentors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cohort_mentors_mentor_id'))

    op.drop_table('cohort_mentors')
    with op.batch_alter_table('cohort_mentees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cohort_mentees_mentee_id'))

    op.drop_table('cohort_mentees')
    op.drop_table('cohorts')
