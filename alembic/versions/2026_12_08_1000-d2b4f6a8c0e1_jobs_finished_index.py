"""jobs: an index for pruning finished jobs by when they finished

Revision ID: d2b4f6a8c0e1
Revises: d1f3a5c7e9b2
Create Date: 2026-12-07 11:00:00

Housekeeping deletes jobs that finished more than MENTORAPI_JOB_RETENTION_DAYS ago, the oldest
first (retention.py, jobs/repository.py `prune_finished`); without an index it read every
finished job each round. `ix_jobs_finished_at` (finished_at, partial: finished_at IS NOT NULL,
so queued and running jobs are not in it) gives them in order. Built CONCURRENTLY on
PostgreSQL (db/online.py): the job queue keeps taking writes while it builds.
"""

from collections.abc import Sequence

from mentorapi.db import online

revision: str = 'd2b4f6a8c0e1'
down_revision: str | None = 'd1f3a5c7e9b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    online.create_index(
        'ix_jobs_finished_at', 'jobs', ['finished_at'], where='finished_at IS NOT NULL'
    )


def downgrade() -> None:
    online.drop_index('ix_jobs_finished_at', 'jobs')
