"""group session reminders: scheduled rows about a group session and its seats

Revision ID: c4e6a8b0d2f1
Revises: a7c9e1f3b5d2
Create Date: 2026-12-07 09:00:00

`scheduled_notifications` also holds a group session's reminders (to the mentor, and to each
taken seat's mentee), start and end (group_sessions/timed.py): `group_session_id` references
the group session, `seat_id` the seat a mentee's reminder is for; both (app_id, id) keys, both
cascading, both indexed (the cascades look rows up by them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c4e6a8b0d2f1'
down_revision: str | None = 'a7c9e1f3b5d2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('scheduled_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_session_id', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('seat_id', sa.String(length=30), nullable=True))
        batch_op.create_index(batch_op.f('ix_scheduled_notifications_group_session_id'), ['group_session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduled_notifications_seat_id'), ['seat_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_scheduled_notifications_app_id_group_sessions'), 'group_sessions', ['app_id', 'group_session_id'], ['app_id', 'id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_scheduled_notifications_app_id_seats'), 'seats', ['app_id', 'seat_id'], ['app_id', 'id'], ondelete='CASCADE')


def downgrade() -> None:
    op.execute("DELETE FROM scheduled_notifications WHERE group_session_id IS NOT NULL")
    with op.batch_alter_table('scheduled_notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_scheduled_notifications_app_id_seats'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_scheduled_notifications_app_id_group_sessions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_scheduled_notifications_seat_id'))
        batch_op.drop_index(batch_op.f('ix_scheduled_notifications_group_session_id'))
        batch_op.drop_column('seat_id')
        batch_op.drop_column('group_session_id')
