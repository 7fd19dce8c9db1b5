"""apps: a GIN index on cors_origins, for the origin lookup of CORS preflights

Revision ID: e1a3c5e7f9b2
Revises: d3c5e7a9b1f4
Create Date: 2026-12-09 09:00:00

A preflight (OPTIONS) carries no credentials, so apps/cors.py asks whether ANY app allows its
Origin: `cors_origins @> '["<origin>"]'`. Without an index that read every app, once for each
preflight (or unauthenticated request) with an Origin no app lists, which anyone may send
without limit: 60 ms a request over 100,000 apps. `ix_apps_cors_origins` (GIN, jsonb_path_ops)
answers it with one probe. PostgreSQL only (SQLite's json_each uses no index), built
CONCURRENTLY (db/online.py): apps keep taking writes while it builds.
"""

from collections.abc import Sequence

from mentorapi.db import online

revision: str = 'e1a3c5e7f9b2'
down_revision: str | None = 'd3c5e7a9b1f4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    online.create_index(
        'ix_apps_cors_origins',
        'apps',
        ['cors_origins'],
        postgresql_using='gin',
        postgresql_ops={'cors_origins': 'jsonb_path_ops'},
        postgresql_only=True,
    )


def downgrade() -> None:
    online.drop_index('ix_apps_cors_origins', 'apps', postgresql_only=True)
