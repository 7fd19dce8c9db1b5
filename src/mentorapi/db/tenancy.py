"""The few statements that cross tenants on purpose, each named with the reason it may.

Every other SELECT, UPDATE and DELETE on a table with an `app_id` column filters by it (the
test suite checks every statement it runs: tests/tenancy_hook.py). A statement that must read
or write rows of every app says so where it is built, with `across_tenants(statement, why)`;
the check accepts it only under one of the names below, so the list stays short and reviewed.
"""

from enum import StrEnum
from typing import Protocol, Self, TypeVar

# The execution option that carries the name (read back by the tests' statement check).
CROSS_TENANT = "mentorapi_cross_tenant"


class CrossTenant(StrEnum):
    webhook_worker = "webhook_worker"
    housekeeping = "housekeeping"
    key_lookup = "key_lookup"
    operator = "operator"
    migration = "migration"
    subscription_fanout = "subscription_fanout"
    scheduler = "scheduler"
    jobs = "jobs"


REASONS: dict[CrossTenant, str] = {
    CrossTenant.webhook_worker: (
        "the webhook worker claims the due deliveries of every app from one queue (FOR UPDATE "
        "SKIP LOCKED), then reads and updates the rows it claimed (their events and endpoints) "
        "by the (app_id, id) keys the claim returned, a batch mixing apps"
    ),
    CrossTenant.housekeeping: (
        "housekeeping works on every app at once by age: it purges expired idempotency keys, "
        "prunes webhook deliveries, events and finished jobs past their retention (picked by "
        "age, then deleted by the (app_id, id) keys it picked), and finds the session requests "
        "due to expire (each then expires under its own app)"
    ),
    CrossTenant.key_lookup: (
        "authentication finds the app from an API key's hash: the app is what it learns"
    ),
    CrossTenant.operator: (
        "the operator's command line (`mentorapi apps revoke-key`) names a key by its id alone: "
        "the operator administers every app"
    ),
    CrossTenant.subscription_fanout: (
        "each API process reads the committed session events PostgreSQL announced (NOTIFY), "
        "a burst of every app's at once, by the (app_id, id) pairs of the notices, to hand each "
        "to the subscriptions of its own app (graphql/fanout.py)"
    ),
    CrossTenant.scheduler: (
        "the reminders worker claims the due scheduled notifications of every app from one "
        "queue by due time (FOR UPDATE SKIP LOCKED), then reads and locks the sessions, "
        "speed-mentoring events (and counts their registrations), group sessions and their "
        "seats, feedback, action items and "
        "webhook endpoints of the rows it claimed, by the (app_id, id) pairs the claim "
        "returned, and writes their events: a batch mixing apps"
    ),
    CrossTenant.jobs: (
        "the job runner claims the oldest due job of every app from one queue (FOR UPDATE SKIP "
        "LOCKED) and asks when the next one falls due; everything after the claim names the "
        "job's own app"
    ),
    CrossTenant.migration: (
        "a migration changes the schema and backfills the rows of every app (alembic/env.py "
        "marks its whole connection)"
    ),
}


class _HasExecutionOptions(Protocol):
    def execution_options(self, **options: object) -> Self: ...


S = TypeVar("S", bound=_HasExecutionOptions)


def across_tenants(statement: S, why: CrossTenant) -> S:
    """`statement`, marked as reading or writing rows of every app for the named reason."""
    return statement.execution_options(**cross_tenant_options(why))


def cross_tenant_options(why: CrossTenant) -> dict[str, str]:
    """The same mark as execution options (`Session.get(..., execution_options=...)`)."""
    return {CROSS_TENANT: why.value}
