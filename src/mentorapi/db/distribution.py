"""How the tables spread over distributed PostgreSQL (Citus): every tenant table by `app_id`.

A tenant table is any table with an `app_id` column, unless it is listed below as global. Its
primary key starts with `app_id`; every unique and exclusion constraint and every foreign key to
another tenant table includes it (tests/test_tenant_keys.py checks the models). That is what
Citus needs to keep each app's rows of every table on one shard of one colocation group, and
what makes a reference from one app's row to another app's impossible in the database itself.

docs/scaling.md explains the placement; `citus_ddl()` writes the statements it shows.
"""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import MetaData, Table

DISTRIBUTION_COLUMN = "app_id"
# The table that opens the colocation group every tenant table joins (it references none).
COLOCATION_ANCHOR = "mentors"


class Placement(StrEnum):
    reference = "reference"  # one copy on every node (create_reference_table)
    local = "local"  # stays an ordinary table on the coordinator


@dataclass(frozen=True)
class Global:
    placement: Placement
    why: str


# The tables every app shares. Each one named with the reason it cannot be distributed by app.
GLOBAL_TABLES: dict[str, Global] = {
    "apps": Global(
        Placement.reference,
        "the tenants themselves: every tenant table's app_id references a row of it",
    ),
    "api_keys": Global(
        Placement.reference,
        "authentication finds the app from a key's hash, before any app is known: the lookup "
        "must reach every app's keys on whichever node answers it (a few rows per app, "
        "written rarely, read on every request a process has not cached)",
    ),
    "rate_limit_buckets": Global(
        Placement.local,
        "one upsert per request on its own short transaction, keyed by credential: a "
        "reference table would turn each into a two-phase commit on every node; no statement "
        "joins it to another table",
    ),
}


def is_tenant_table(table: Table) -> bool:
    return DISTRIBUTION_COLUMN in table.c and table.name not in GLOBAL_TABLES


def citus_ddl(metadata: MetaData) -> list[str]:
    """The statements that distribute the schema on Citus, in foreign-key order (a table after
    every table it references): the reference tables, then every tenant table by app_id, all in
    the colocation group of `mentors` (so that each app's rows of every table share a node, for
    joins and foreign keys)."""
    tables = metadata.sorted_tables
    statements = [
        f"SELECT create_reference_table('{t.name}');"
        for t in tables
        if t.name in GLOBAL_TABLES and GLOBAL_TABLES[t.name].placement is Placement.reference
    ]
    tenant = [t for t in tables if is_tenant_table(t)]
    # The group's first table must reference no other tenant table, or the order breaks.
    roots = [
        t
        for t in tenant
        if not any(is_tenant_table(fk.referred_table) for fk in t.foreign_key_constraints)
    ]
    anchor = next((t for t in roots if t.name == COLOCATION_ANCHOR), roots[0])
    for table in [anchor, *(t for t in tenant if t is not anchor)]:
        colocate = "none" if table is anchor else anchor.name
        statements.append(
            f"SELECT create_distributed_table('{table.name}', '{DISTRIBUTION_COLUMN}', "
            f"colocate_with => '{colocate}');"
        )
    return statements
