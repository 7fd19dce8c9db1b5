"""retention: indexes for pruning the event log and finished deliveries by age

Revision ID: c4e6a8b0d2f3
Revises: c4e6a8b0d2f1
Create Date: 2026-12-06 12:00:00

Housekeeping prunes webhook events, deliveries and their attempts older than
MENTORAPI_WEBHOOK_RETENTION_DAYS (retention.py). `ix_events_created_at` (created_at, app_id, id)
serves its keyset sweep of the log by age across apps; `ix_deliveries_finished` (updated_at,
partial: status <> 'pending') finds the deliveries that are over by when they ended, and is
never touched by the retries of pending ones.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c4e6a8b0d2f3'
down_revision: str | None = 'c4e6a8b0d2f1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINISHED = "status <> 'pending'"


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_created_at', ['created_at', 'app_id', 'id'], unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(
            'ix_deliveries_finished',
            ['updated_at'],
            unique=False,
            postgresql_where=sa.text(FINISHED),
            sqlite_where=sa.text(FINISHED),
        )


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(
            'ix_deliveries_finished',
            postgresql_where=sa.text(FINISHED),
            sqlite_where=sa.text(FINISHED),
        )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_created_at')
