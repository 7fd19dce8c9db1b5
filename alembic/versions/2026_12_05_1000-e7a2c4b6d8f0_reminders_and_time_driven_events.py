"""reminders and time-driven events: the reminder policies and the scheduled notifications

Revision ID: e7a2c4b6d8f0
Revises: 2d1ddacc8d5b
Create Date: 2026-12-05 10:00:00

`scheduled_notifications` is the queue of time-driven events (reminders/models.py): primary key
(app_id, key), claimed by due_at. Its foreign keys are (app_id, session_id) -> sessions and
(app_id, action_item_id) -> action_items, like every key between tenant tables.

On PostgreSQL the trigger that announces session events to GraphQL subscriptions (migration
d5e8f1a2b3c4) now leaves `session.reminder` out: reminders go to webhooks only, and a minute
with thousands of them would otherwise wake every API process for nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql
import mentorapi.db.types

revision: str = 'e7a2c4b6d8f0'
down_revision: str | None = '2d1ddacc8d5b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reminder_policies',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sa.String(length=30), nullable=False),
    sa.Column('offsets_minutes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('feedback_request_delay_minutes', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_reminder_policies_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_reminder_policies'))
    )
    op.create_table('mentor_reminder_policies',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sa.String(length=30), nullable=False),
    sa.Column('mentor_id', sa.String(length=30), nullable=False),
    sa.Column('offsets_minutes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_mentor_reminder_policies_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'mentor_id'], ['mentors.app_id', 'mentors.id'], name=op.f('fk_mentor_reminder_policies_app_id_mentors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'mentor_id', name=op.f('pk_mentor_reminder_policies'))
    )
    op.create_table('scheduled_notifications',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sa.String(length=30), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('due_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('session_id', sa.String(length=30), nullable=False),
    sa.Column('action_item_id', sa.String(length=30), nullable=True),
    sa.Column('party', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('minutes_before', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['app_id', 'action_item_id'], ['action_items.app_id', 'action_items.id'], name=op.f('fk_scheduled_notifications_app_id_action_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_scheduled_notifications_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id', 'session_id'], ['sessions.app_id', 'sessions.id'], name=op.f('fk_scheduled_notifications_app_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'key', name=op.f('pk_scheduled_notifications'))
    )
    with op.batch_alter_table('scheduled_notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduled_notifications_action_item_id'), ['action_item_id'], unique=False)
        batch_op.create_index('ix_scheduled_notifications_due_at', ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduled_notifications_session_id'), ['session_id'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        _session_trigger("NEW.type LIKE 'session.%' AND NEW.type <> 'session.reminder'")


def _session_trigger(when: str) -> None:
    op.execute('DROP TRIGGER events_notify_sessions ON events')
    op.execute(
        'CREATE TRIGGER events_notify_sessions AFTER INSERT ON events '
        f'FOR EACH ROW WHEN ({when}) '
        'EXECUTE FUNCTION mentorapi_notify_session_event()'
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _session_trigger("NEW.type LIKE 'session.%'")
    with op.batch_alter_table('scheduled_notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_notifications_session_id'))
        batch_op.drop_index('ix_scheduled_notifications_due_at')
        batch_op.drop_index(batch_op.f('ix_scheduled_notifications_action_item_id'))

    op.drop_table('scheduled_notifications')
    op.drop_table('mentor_reminder_policies')
    op.drop_table('reminder_policies')
