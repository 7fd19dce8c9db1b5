"""auth change notices: PostgreSQL tells every process when an app or an API key changes

Revision ID: b7d41e6a0c53
Revises: 7c1e5b2d9a40
Create Date: 2026-12-01 22:15:00

Each API process remembers the apps of the keys it has seen (apps/keycache.py) and forgets them
on a NOTIFY on `mentorapi_auth`. Triggers send it at the commit of any statement that writes
`apps` or `api_keys`, whatever wrote it (the API, the CLI, a person with psql). SQLite has no
NOTIFY and no key cache: nothing to do there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'b7d41e6a0c53'
down_revision: str | None = '7c1e5b2d9a40'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ('apps', 'api_keys')


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        """
        CREATE FUNCTION mentorapi_notify_auth() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('mentorapi_auth', '');
            RETURN NULL;
        END
        $$
        """
    )
    for table in _TABLES:
        op.execute(
            f'CREATE TRIGGER {table}_notify_auth '
            f'AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} '
            'FOR EACH STATEMENT EXECUTE FUNCTION mentorapi_notify_auth()'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in _TABLES:
        op.execute(f'DROP TRIGGER {table}_notify_auth ON {table}')
    op.execute('DROP FUNCTION mentorapi_notify_auth()')
