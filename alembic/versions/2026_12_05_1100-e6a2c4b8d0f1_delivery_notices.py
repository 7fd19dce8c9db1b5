"""delivery notices: a trigger wakes the webhook workers when deliveries are inserted

Revision ID: e6a2c4b8d0f1
Revises: e7a2c4b6d8f0
Create Date: 2026-12-05 11:00:00

The outbox sent `SELECT pg_notify('mentorapi_webhooks', '')` after inserting a change's
deliveries: one more round trip in every transaction that records an event, while it still
holds its locks (a booking holds its mentor's). A statement-level trigger on `deliveries` does
the same as part of the INSERT: the notice still goes out at commit and never for a rollback,
PostgreSQL folds the repeats of one transaction into one, and every writer of deliveries is
covered. Only INSERT: the workers update deliveries all the time and must not wake each other;
the few updates that make deliveries due again (recover, redeliver) still notify themselves.
SQLite has no NOTIFY: its worker polls.
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'e6a2c4b8d0f1'
down_revision: str | None = 'e7a2c4b6d8f0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        """
        CREATE FUNCTION mentorapi_notify_workers() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('mentorapi_webhooks', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        'CREATE TRIGGER deliveries_notify_workers AFTER INSERT ON deliveries '
        'FOR EACH STATEMENT EXECUTE FUNCTION mentorapi_notify_workers()'
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP TRIGGER deliveries_notify_workers ON deliveries')
    op.execute('DROP FUNCTION mentorapi_notify_workers()')
