"""group session feedback: a feedback row closes a session or one seat of a group session

Revision ID: d1f3a5c7e9b2
Revises: c4e6a8b0d2f3
Create Date: 2026-12-08 09:00:00

`feedback.session_id` becomes nullable; `group_session_id` and `seat_id` name the group
session and the seat a group session's feedback is on, both (app_id, id) keys that cascade.
A CHECK keeps exactly one subject (a session, or a seat with its group session), and
(app_id, seat_id, author) is unique as (app_id, session_id, author) is (NULLs are distinct).
Batch mode: SQLite rebuilds the table for the nullable change and the constraints.
Downgrading deletes the group sessions' feedback and its impact updates first, since
`session_id` is NOT NULL again; the mentors' rating counters keep what that
feedback added to them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'd1f3a5c7e9b2'
down_revision: str | None = 'c4e6a8b0d2f3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_SUBJECT = (
    "(session_id IS NULL) <> (seat_id IS NULL) "
    "AND (seat_id IS NULL) = (group_session_id IS NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_session_id', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('seat_id', sa.String(length=30), nullable=True))
        batch_op.alter_column('session_id', existing_type=sa.String(length=30), nullable=True)
        batch_op.create_index(batch_op.f('ix_feedback_group_session_id'), ['group_session_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_feedback_app_id_seat_id_author'), ['app_id', 'seat_id', 'author'])
        batch_op.create_check_constraint(batch_op.f('ck_feedback_one_subject'), ONE_SUBJECT)
        batch_op.create_foreign_key(batch_op.f('fk_feedback_app_id_group_sessions'), 'group_sessions', ['app_id', 'group_session_id'], ['app_id', 'id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_feedback_app_id_seats'), 'seats', ['app_id', 'seat_id'], ['app_id', 'id'], ondelete='CASCADE')


def downgrade() -> None:
    # Their impact updates first: SQLite's migrations run without foreign keys (no cascade).
    op.execute(
        "DELETE FROM impact_updates WHERE feedback_id IN "
        "(SELECT id FROM feedback WHERE session_id IS NULL)"
    )
    op.execute("DELETE FROM feedback WHERE session_id IS NULL")
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_feedback_app_id_seats'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_feedback_app_id_group_sessions'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('ck_feedback_one_subject'), type_='check')
        batch_op.drop_constraint(batch_op.f('uq_feedback_app_id_seat_id_author'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_feedback_group_session_id'))
        batch_op.alter_column('session_id', existing_type=sa.String(length=30), nullable=False)
        batch_op.drop_column('seat_id')
        batch_op.drop_column('group_session_id')
