"""retention: indexes for pruning the event log and finished deliveries by age

Revision ID: c4e6a8b0d2f3
Revises: c4e6a8b0d2f1
Create Date: 2026-12-06 12:00:00

Housekeeping prunes webhook events, deliveries and their attempts older than
MENTORAPI_WEBHOOK_RETENTION_DAYS (retention.py). `ix_events_created_at` (created_at, app_id, id)
serves its keyset sweep of the log by age across apps; `ix_deliveries_finished` (updated_at,
partial: status <> 'pending') finds the deliveries that are over by when they ended, and is
never touched by the retries of pending ones.

Both are built CONCURRENTLY on PostgreSQL (db/online.py): a plain CREATE INDEX would hold off
every write to a large `events` table (every state change writes its event there) for the
whole build. Same indexes as before; a database that already ran the plain version has them and
is not migrated again.
"""

from collections.abc import Sequence

from mentorapi.db import online

revision: str = 'c4e6a8b0d2f3'
down_revision: str | None = 'c4e6a8b0d2f1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINISHED = "status <> 'pending'"


def upgrade() -> None:
    online.create_index('ix_events_created_at', 'events', ['created_at', 'app_id', 'id'])
    online.create_index('ix_deliveries_finished', 'deliveries', ['updated_at'], where=FINISHED)


def downgrade() -> None:
    online.drop_index('ix_deliveries_finished', 'deliveries')
    online.drop_index('ix_events_created_at', 'events')
