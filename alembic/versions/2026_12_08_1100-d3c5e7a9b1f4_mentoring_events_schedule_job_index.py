"""mentoring events: an index on the schedule's build job, for the prune of finished jobs

Revision ID: d3c5e7a9b1f4
Revises: d2b4f6a8c0e1
Create Date: 2026-12-08 11:00:00

The prune of finished jobs keeps a job that a mentoring event names as its schedule's build
(retention.py, JOB_REFERENCES; jobs/repository.py `finished_before`): for every finished job it
considers, it asks whether an event names it. Without an index that read every event (or
hashed them all) each batch. `ix_mentoring_events_schedule_job` (app_id, schedule_job_id;
partial: schedule_job_id IS NOT NULL) answers it with one probe. Built CONCURRENTLY on
PostgreSQL (db/online.py): events keep taking writes while it builds.
"""

from collections.abc import Sequence

from mentorapi.db import online

revision: str = 'd3c5e7a9b1f4'
down_revision: str | None = 'd2b4f6a8c0e1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    online.create_index(
        'ix_mentoring_events_schedule_job',
        'mentoring_events',
        ['app_id', 'schedule_job_id'],
        where='schedule_job_id IS NOT NULL',
    )


def downgrade() -> None:
    online.drop_index('ix_mentoring_events_schedule_job', 'mentoring_events')
