"""member change notices: a deleted mentor or mentee ends the member's open subscriptions

Revision ID: c3f9a1d2e4b5
Revises: b7d41e6a0c53
Create Date: 2026-12-04 21:30:00

A GraphQL subscription checks on every message that its credential still holds; it asks the
database again only when something may have changed, which every process learns from a NOTIFY on
`mentorapi_auth` (apps/keycache.py). Member tokens also lapse when the member's profile is
deleted or its `external_id` (a token's `sub`) changes, so those writes to mentors and mentees
send that notice too. SQLite has no
NOTIFY: there every message checks the database.
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'c3f9a1d2e4b5'
down_revision: str | None = 'b7d41e6a0c53'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ('mentors', 'mentees')


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in _TABLES:
        op.execute(
            f'CREATE TRIGGER {table}_notify_auth '
            f'AFTER DELETE OR TRUNCATE OR UPDATE OF external_id ON {table} '
            'FOR EACH STATEMENT EXECUTE FUNCTION mentorapi_notify_auth()'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in _TABLES:
        op.execute(f'DROP TRIGGER {table}_notify_auth ON {table}')
