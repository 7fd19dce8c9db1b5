"""session event notices: every committed session.* event is announced to every API process

Revision ID: d5e8f1a2b3c4
Revises: c3f9a1d2e4b5
Create Date: 2026-12-04 22:30:00

GraphQL subscriptions are served by whichever process holds the client's socket; the change may
be committed by any other (another API process, `mentorapi worker`, the CLI). A trigger on
`events` NOTIFYs `mentorapi_sessions` with `<app_id> <event_id>` for each `session.*` row, and
each API process LISTENs and reads the rows it is told of (graphql/fanout.py).

A trigger rather than a NOTIFY sent by the application after commit: it is part of the
transaction, so the notice goes out exactly when the row is committed (never for a rollback,
never lost if the process dies between its commit and a later NOTIFY), PostgreSQL delivers the
notices of different transactions in commit order (what a subscriber needs, per session), every
writer is covered whatever code path wrote the row, and it costs no extra round trip. The
payload (two ids, about 60 bytes) stays far under NOTIFY's 8,000-byte limit.
SQLite has no NOTIFY: one process, fed in-process (graphql/feed.py).
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'd5e8f1a2b3c4'
down_revision: str | None = 'c3f9a1d2e4b5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        """
        CREATE FUNCTION mentorapi_notify_session_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('mentorapi_sessions', NEW.app_id || ' ' || NEW.id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        'CREATE TRIGGER events_notify_sessions AFTER INSERT ON events '
        "FOR EACH ROW WHEN (NEW.type LIKE 'session.%') "
        'EXECUTE FUNCTION mentorapi_notify_session_event()'
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP TRIGGER events_notify_sessions ON events')
    op.execute('DROP FUNCTION mentorapi_notify_session_event()')
