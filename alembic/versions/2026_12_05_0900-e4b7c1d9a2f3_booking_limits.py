"""booking limits: a buffer before and one after each session, daily limits, a booking horizon

Revision ID: e4b7c1d9a2f3
Revises: d5e8f1a2b3c4
Create Date: 2026-12-05 09:00:00

The single `buffer_minutes` becomes `buffer_before_minutes` and `buffer_after_minutes`, each
holding the old value: a buffer of N before and after every session keeps two sessions N
minutes apart, as the single buffer did, so every mentor's free slots stay what they were.
Downgrading keeps the larger of the two, which keeps sessions at least as far apart.
The limits are new and NULL (none) for every mentor.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e4b7c1d9a2f3'
down_revision: str | None = 'd5e8f1a2b3c4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIMITS = ('booking_horizon_days', 'daily_limit_sessions', 'daily_limit_minutes')


def upgrade() -> None:
    with op.batch_alter_table('availabilities', schema=None) as batch_op:
        for name in ('buffer_before_minutes', 'buffer_after_minutes'):
            batch_op.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text('0'))
            )
        for name in _LIMITS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
    op.execute(
        'UPDATE availabilities '
        'SET buffer_before_minutes = buffer_minutes, buffer_after_minutes = buffer_minutes'
    )
    with op.batch_alter_table('availabilities', schema=None) as batch_op:
        batch_op.drop_column('buffer_minutes')


def downgrade() -> None:
    with op.batch_alter_table('availabilities', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('buffer_minutes', sa.Integer(), nullable=False, server_default=sa.text('0'))
        )
    op.execute(
        'UPDATE availabilities SET buffer_minutes = CASE '
        'WHEN buffer_before_minutes >= buffer_after_minutes THEN buffer_before_minutes '
        'ELSE buffer_after_minutes END'
    )
    with op.batch_alter_table('availabilities', schema=None) as batch_op:
        # As the column was made (sessions migration): no default of its own.
        batch_op.alter_column('buffer_minutes', server_default=None)
        for name in ('buffer_before_minutes', 'buffer_after_minutes', *_LIMITS):
            batch_op.drop_column(name)
