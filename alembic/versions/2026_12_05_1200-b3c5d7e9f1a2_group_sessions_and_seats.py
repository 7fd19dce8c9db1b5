"""group sessions and seats: a mentor's session with 2-12 seats, each a mentee with their ask

Revision ID: b3c5d7e9f1a2
Revises: a3d5f7b9c1e2
Create Date: 2026-12-05 12:00:00

Tenant keys as everywhere: primary keys (app_id, id), foreign keys (app_id, x_id) -> x (app_id,
id), the skill's RESTRICT (a group session keeps its subject for its history).

What the database holds on its own (group_sessions/models.py):
- `ck_group_sessions_seats_taken`: never more seats taken than offered (`seats_taken` is kept
  with the seats, under the group session's row lock);
- `uq_seats_one_taken_per_mentee` (partial, both databases): one taken seat per mentee and
  group session;
- PostgreSQL: `ex_seats_mentee_no_overlap`, two taken seats of one mentee never overlap in time
  (each seat carries its group session's time), and `ex_group_sessions_mentor_no_overlap`, two
  scheduled group sessions of one mentor never overlap. Both start with app_id, as Citus needs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql
import mentorapi.db.types

revision: str = 'b3c5d7e9f1a2'
down_revision: str | None = "a3d5f7b9c1e2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('group_sessions',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('mentor_id', sa.String(length=30), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('skill_id', sa.String(length=30), nullable=False),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('seats_taken', sa.Integer(), nullable=False),
    sa.Column('starts_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rescheduled_from', mentorapi.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('history', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('cancel_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('completion_note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('seats BETWEEN 2 AND 12', name=op.f('ck_group_sessions_seats')),
    sa.CheckConstraint('seats_taken BETWEEN 0 AND seats', name=op.f('ck_group_sessions_seats_taken')),
    sa.ForeignKeyConstraint(['app_id', 'mentor_id'], ['mentors.app_id', 'mentors.id'], name=op.f('fk_group_sessions_app_id_mentors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'skill_id'], ['skills.app_id', 'skills.id'], name=op.f('fk_group_sessions_app_id_skills'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_group_sessions_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'id', name=op.f('pk_group_sessions'))
    )
    with op.batch_alter_table('group_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_group_sessions_app_id_mentor_id_starts_at', ['app_id', 'mentor_id', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_sessions_skill_id'), ['skill_id'], unique=False)

    op.create_table('seats',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('group_session_id', sa.String(length=30), nullable=False),
    sa.Column('mentee_id', sa.String(length=30), nullable=False),
    sa.Column('ask', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('starts_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_by', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('cancel_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id', 'group_session_id'], ['group_sessions.app_id', 'group_sessions.id'], name=op.f('fk_seats_app_id_group_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentee_id'], ['mentees.app_id', 'mentees.id'], name=op.f('fk_seats_app_id_mentees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_seats_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'id', name=op.f('pk_seats'))
    )
    with op.batch_alter_table('seats', schema=None) as batch_op:
        batch_op.create_index('ix_seats_app_id_mentee_id_starts_at', ['app_id', 'mentee_id', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_seats_group_session_id'), ['group_session_id'], unique=False)
        batch_op.create_index('uq_seats_one_taken_per_mentee', ['app_id', 'group_session_id', 'mentee_id'], unique=True, postgresql_where=sa.text("status = 'taken'"), sqlite_where=sa.text("status = 'taken'"))

    if op.get_bind().dialect.name == 'postgresql':
        # btree_gist (migration 9dda38a2971e) lets a GiST index compare app_id and ids with =.
        op.execute(
            "ALTER TABLE group_sessions ADD CONSTRAINT ex_group_sessions_mentor_no_overlap "
            "EXCLUDE USING gist (app_id WITH =, mentor_id WITH =, "
            "tstzrange(starts_at, ends_at) WITH &&) WHERE (status = 'scheduled')"
        )
        op.execute(
            "ALTER TABLE seats ADD CONSTRAINT ex_seats_mentee_no_overlap "
            "EXCLUDE USING gist (app_id WITH =, mentee_id WITH =, "
            "tstzrange(starts_at, ends_at) WITH &&) WHERE (status = 'taken')"
        )


def downgrade() -> None:
    with op.batch_alter_table('seats', schema=None) as batch_op:
        batch_op.drop_index('uq_seats_one_taken_per_mentee', postgresql_where=sa.text("status = 'taken'"), sqlite_where=sa.text("status = 'taken'"))
        batch_op.drop_index(batch_op.f('ix_seats_group_session_id'))
        batch_op.drop_index('ix_seats_app_id_mentee_id_starts_at')

    op.drop_table('seats')
    with op.batch_alter_table('group_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_sessions_skill_id'))
        batch_op.drop_index('ix_group_sessions_app_id_mentor_id_starts_at')

    op.drop_table('group_sessions')
