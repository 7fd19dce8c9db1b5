"""speed-mentoring events: events, registrations, schedules, follow-ups, and their timed rows

Revision ID: a7c9e1f3b5d2
Revises: a7c3e5f9b1d4
Create Date: 2026-12-06 11:00:00

`mentoring_events` (primary key (app_id, id)); `mentoring_event_registrations` (app_id,
event_id, member_id); `mentoring_event_assignments` (app_id, event_id, stage, mentee_id,
mentor_id: a pair meets once) with the unique key (app_id, event_id, stage, round, mentee_id)
(a mentee in one place per round); `mentoring_event_follow_ups` (app_id, event_id, mentee_id,
mentor_id); `mentoring_event_scores` (app_id, event_id: the matching's scores a schedule was
built from). Every key between tenant tables carries app_id.

`scheduled_notifications` also holds an event's rounds and end (mentoring_events/timed.py): a
row is about a session or about an event, so `session_id` may be null, and `mentoring_event_id`
references the event.

On PostgreSQL the trigger that announces session events to subscriptions (migrations
d5e8f1a2b3c4, e7a2c4b6d8f0) also announces a changed schedule (published, or changed by a late
change), so every process's live feeds read it again (graphql/fanout.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql
import mentorapi.db.types

revision: str = 'a7c9e1f3b5d2'
down_revision: str | None = 'a7c3e5f9b1d4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mentoring_events',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('starts_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('rounds', sa.Integer(), nullable=False),
    sa.Column('round_minutes', sa.Integer(), nullable=False),
    sa.Column('transition_minutes', sa.Integer(), nullable=False),
    sa.Column('table_capacity', sa.Integer(), nullable=False),
    sa.Column('meetings_per_mentee', sa.Integer(), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('registration_closes_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('registrations_version', sa.Integer(), nullable=False),
    sa.Column('schedule_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('schedule_built_from', sa.Integer(), nullable=True),
    sa.Column('schedule_version', sa.Integer(), nullable=False),
    sa.Column('schedule_job_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('schedule_error', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('schedule_stats', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('published_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_mentoring_events_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'id', name=op.f('pk_mentoring_events'))
    )
    op.create_table('mentoring_event_assignments',
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('event_id', sa.String(length=30), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('mentee_id', sa.String(length=30), nullable=False),
    sa.Column('mentor_id', sa.String(length=30), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('table_no', sa.Integer(), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('relevance', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['app_id', 'event_id'], ['mentoring_events.app_id', 'mentoring_events.id'], name=op.f('fk_mentoring_event_assignments_app_id_mentoring_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentee_id'], ['mentees.app_id', 'mentees.id'], name=op.f('fk_mentoring_event_assignments_app_id_mentees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentor_id'], ['mentors.app_id', 'mentors.id'], name=op.f('fk_mentoring_event_assignments_app_id_mentors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_mentoring_event_assignments_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'event_id', 'stage', 'mentee_id', 'mentor_id', name=op.f('pk_mentoring_event_assignments')),
    sa.UniqueConstraint('app_id', 'event_id', 'stage', 'round', 'mentee_id', name=op.f('uq_mentoring_event_assignments_app_id_event_id_stage_round_mentee_id'))
    )
    with op.batch_alter_table('mentoring_event_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mentoring_event_assignments_mentee_id'), ['mentee_id'], unique=False)
        batch_op.create_index('ix_mentoring_event_assignments_mentor', ['app_id', 'event_id', 'stage', 'mentor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mentoring_event_assignments_mentor_id'), ['mentor_id'], unique=False)

    op.create_table('mentoring_event_registrations',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('event_id', sa.String(length=30), nullable=False),
    sa.Column('member_id', sa.String(length=30), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('mentor_id', sa.String(length=30), nullable=True),
    sa.Column('mentee_id', sa.String(length=30), nullable=True),
    sa.Column('ask', sa.Text(), nullable=True),
    sa.Column('skill_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('must_meet', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('no_thanks', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('attendance', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('checked_in_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['app_id', 'event_id'], ['mentoring_events.app_id', 'mentoring_events.id'], name=op.f('fk_mentoring_event_registrations_app_id_mentoring_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentee_id'], ['mentees.app_id', 'mentees.id'], name=op.f('fk_mentoring_event_registrations_app_id_mentees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentor_id'], ['mentors.app_id', 'mentors.id'], name=op.f('fk_mentoring_event_registrations_app_id_mentors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_mentoring_event_registrations_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'event_id', 'member_id', name=op.f('pk_mentoring_event_registrations'))
    )
    with op.batch_alter_table('mentoring_event_registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mentoring_event_registrations_mentee_id'), ['mentee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mentoring_event_registrations_mentor_id'), ['mentor_id'], unique=False)

    op.create_table('mentoring_event_follow_ups',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('event_id', sa.String(length=30), nullable=False),
    sa.Column('mentee_id', sa.String(length=30), nullable=False),
    sa.Column('mentor_id', sa.String(length=30), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('ask', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('session_id', sa.String(length=30), nullable=True),
    sa.Column('recommendation', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['app_id', 'event_id'], ['mentoring_events.app_id', 'mentoring_events.id'], name=op.f('fk_mentoring_event_follow_ups_app_id_mentoring_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentee_id'], ['mentees.app_id', 'mentees.id'], name=op.f('fk_mentoring_event_follow_ups_app_id_mentees'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentor_id'], ['mentors.app_id', 'mentors.id'], name=op.f('fk_mentoring_event_follow_ups_app_id_mentors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'session_id'], ['sessions.app_id', 'sessions.id'], name=op.f('fk_mentoring_event_follow_ups_app_id_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_mentoring_event_follow_ups_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'event_id', 'mentee_id', 'mentor_id', name=op.f('pk_mentoring_event_follow_ups'))
    )
    with op.batch_alter_table('mentoring_event_follow_ups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mentoring_event_follow_ups_mentee_id'), ['mentee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mentoring_event_follow_ups_mentor_id'), ['mentor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mentoring_event_follow_ups_session_id'), ['session_id'], unique=False)

    op.create_table('mentoring_event_scores',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('event_id', sa.String(length=30), nullable=False),
    sa.Column('mentees', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('mentors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('relevance', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['app_id', 'event_id'], ['mentoring_events.app_id', 'mentoring_events.id'], name=op.f('fk_mentoring_event_scores_app_id_mentoring_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_mentoring_event_scores_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'event_id', name=op.f('pk_mentoring_event_scores'))
    )
    with op.batch_alter_table('scheduled_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mentoring_event_id', sa.String(length=30), nullable=True))
        batch_op.alter_column('session_id',
               existing_type=sa.VARCHAR(length=30),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_scheduled_notifications_mentoring_event_id'), ['mentoring_event_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_scheduled_notifications_app_id_mentoring_events'), 'mentoring_events', ['app_id', 'mentoring_event_id'], ['app_id', 'id'], ondelete='CASCADE')

    if op.get_bind().dialect.name == 'postgresql':
        _session_trigger(f"({SESSIONS}) OR NEW.type IN ({SCHEDULES})")


SESSIONS = "NEW.type LIKE 'session.%' AND NEW.type <> 'session.reminder'"
SCHEDULES = "'mentoring_event.schedule_published', 'mentoring_event.schedule_changed'"


def _session_trigger(when: str) -> None:
    op.execute('DROP TRIGGER events_notify_sessions ON events')
    op.execute(
        'CREATE TRIGGER events_notify_sessions AFTER INSERT ON events '
        f'FOR EACH ROW WHEN ({when}) '
        'EXECUTE FUNCTION mentorapi_notify_session_event()'
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _session_trigger(SESSIONS)
    op.execute("DELETE FROM scheduled_notifications WHERE session_id IS NULL")
    with op.batch_alter_table('scheduled_notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_scheduled_notifications_app_id_mentoring_events'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_scheduled_notifications_mentoring_event_id'))
        batch_op.alter_column('session_id',
               existing_type=sa.VARCHAR(length=30),
               nullable=False)
        batch_op.drop_column('mentoring_event_id')

    with op.batch_alter_table('mentoring_event_follow_ups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mentoring_event_follow_ups_session_id'))
        batch_op.drop_index(batch_op.f('ix_mentoring_event_follow_ups_mentor_id'))
        batch_op.drop_index(batch_op.f('ix_mentoring_event_follow_ups_mentee_id'))

    op.drop_table('mentoring_event_scores')
    op.drop_table('mentoring_event_follow_ups')
    with op.batch_alter_table('mentoring_event_registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mentoring_event_registrations_mentor_id'))
        batch_op.drop_index(batch_op.f('ix_mentoring_event_registrations_mentee_id'))

    op.drop_table('mentoring_event_registrations')
    with op.batch_alter_table('mentoring_event_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mentoring_event_assignments_mentor_id'))
        batch_op.drop_index('ix_mentoring_event_assignments_mentor')
        batch_op.drop_index(batch_op.f('ix_mentoring_event_assignments_mentee_id'))

    op.drop_table('mentoring_event_assignments')
    op.drop_table('mentoring_events')
