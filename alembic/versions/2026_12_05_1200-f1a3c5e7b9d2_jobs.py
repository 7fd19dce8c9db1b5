"""jobs: the queue of work done by the workers (match runs, large schedules)

Revision ID: f1a3c5e7b9d2
Revises: e6a2c4b8d0f1
Create Date: 2026-12-05 12:00:00

`jobs` (jobs/models.py): primary key (app_id, id), claimed by (status, run_after) under a lease.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql
import mentorapi.db.types

revision: str = 'f1a3c5e7b9d2'
down_revision: str | None = 'e6a2c4b8d0f1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('created_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('app_id', sa.String(length=30), nullable=False),
    sa.Column('id', sa.String(length=30), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('run_after', mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('lease_expires_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['apps.id'], name=op.f('fk_jobs_app_id_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_status_run_after', ['status', 'run_after'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_status_run_after')

    op.drop_table('jobs')
