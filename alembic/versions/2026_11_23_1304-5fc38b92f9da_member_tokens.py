"""member tokens

Revision ID: 5fc38b92f9da
Revises: 3c3554eda44a
Create Date: 2026-11-23 13:04:47.458743
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql
import mentorapi.db.types

revision: str = '5fc38b92f9da'
down_revision: str | None = '4eaebcb5adb5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_limit_buckets',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('tat', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_limit_buckets'))
    )
    # Added nullable, filled for the apps that exist (each its own random secret), then NOT NULL.
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_secret', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('previous_token_secret', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('previous_token_secret_expires_at', mentorapi.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cors_origins', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))

    apps = sa.table(
        'apps',
        sa.column('id', sa.String()),
        sa.column('token_secret', sa.String()),
        sa.column('cors_origins', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')),
    )
    connection = op.get_bind()
    for (app_id,) in connection.execute(sa.select(apps.c.id)).all():
        connection.execute(
            apps.update()
            .where(apps.c.id == app_id)
            .values(token_secret='mts_' + secrets.token_urlsafe(32), cors_origins=[])
        )

    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.alter_column('token_secret', existing_type=sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False)
        batch_op.alter_column('cors_origins', existing_type=sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_column('cors_origins')
        batch_op.drop_column('previous_token_secret_expires_at')
        batch_op.drop_column('previous_token_secret')
        batch_op.drop_column('token_secret')

    op.drop_table('rate_limit_buckets')
