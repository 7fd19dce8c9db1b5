"""Every key of a tenant table includes app_id, so the schema can be distributed by app (Citus).

Checked from the models' metadata (tests/test_migrations.py checks the migrations give exactly
the models). A table with an `app_id` column is a tenant table unless db/distribution.py lists it
in GLOBAL_TABLES; a table without one must be listed there. The messages say what to change.
"""

import re
from pathlib import Path

from sqlalchemy import (
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint

from mentorapi.db.distribution import (
    DISTRIBUTION_COLUMN,
    GLOBAL_TABLES,
    Placement,
    citus_ddl,
    is_tenant_table,
)
from mentorapi.db.models import metadata

APP = DISTRIBUTION_COLUMN
SCALING_DOC = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
HOW = "(see docs/scaling.md, 'Keys of a tenant table')"


def _columns(names: object) -> str:
    return "(" + ", ".join(str(n) for n in names) + ")"  # type: ignore[attr-defined]


def key_problems(meta: MetaData) -> list[str]:
    """What keeps `meta` from being distributed by app_id, one sentence per fix."""
    found: list[str] = []
    tables = {t.name: t for t in meta.sorted_tables}
    for name in sorted(set(GLOBAL_TABLES) - set(tables)):
        found.append(f"GLOBAL_TABLES in db/distribution.py lists {name!r}, which no model defines")
    for table in tables.values():
        if APP not in table.c and table.name not in GLOBAL_TABLES:
            found.append(
                f"{table.name}: no {APP} column. Derive its model from TenantOwned (db/base.py), "
                f"or, if every app shares it, add it to GLOBAL_TABLES in db/distribution.py "
                f"with the reason"
            )
        elif table.name in GLOBAL_TABLES:
            found.extend(_global_problems(table))
        else:
            found.extend(_tenant_problems(table))
    return found


def _global_problems(table: Table) -> list[str]:
    # Citus: a reference table may reference only reference tables.
    return [
        f"{table.name} is global (GLOBAL_TABLES) but its foreign key {fk.name} references the "
        f"tenant table {fk.referred_table.name}: a global table cannot depend on one app's rows"
        for fk in table.foreign_key_constraints
        if is_tenant_table(fk.referred_table)
    ]


def _tenant_problems(table: Table) -> list[str]:
    found: list[str] = []
    name = table.name
    if table.c[APP].nullable:
        found.append(f"{name}.{APP} is nullable: make it NOT NULL")
    pk = [c.name for c in table.primary_key.columns]
    if not pk or pk[0] != APP:
        wanted = [APP, *(c for c in pk if c != APP)]
        found.append(
            f"{name}: primary key {table.primary_key.name} is {_columns(pk)}; make it "
            f"{_columns(wanted)}, {APP} first so that the key's index serves every lookup of "
            f"the app's rows (derive the model from TenantOwned, whose {APP} is part of the "
            f"primary key; in the migration: sa.PrimaryKeyConstraint({', '.join(map(repr, wanted))}"
            f", name=op.f('pk_{name}'))) {HOW}"
        )
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and APP not in constraint.columns:
            columns = [c.name for c in constraint.columns]
            found.append(
                f"{name}: unique constraint {constraint.name} on {_columns(columns)} does not "
                f"include {APP}: make it UniqueConstraint({', '.join(map(repr, [APP, *columns]))})"
                f" (unique within an app) {HOW}"
            )
        elif isinstance(constraint, ExcludeConstraint) and constraint.operators.get(APP) != "=":
            found.append(
                f"{name}: exclusion constraint {constraint.name} does not include "
                f"({APP} WITH =): add (literal_column({APP!r}), '=') as its first element {HOW}"
            )
    for index in table.indexes:
        if index.unique and APP not in index.columns:
            found.append(
                f"{name}: unique index {index.name} on "
                f"{_columns(c.name for c in index.columns)} does not include {APP}: add it {HOW}"
            )
    for fk in table.foreign_key_constraints:
        found.extend(_foreign_key_problems(table, fk))
    return found


def _foreign_key_problems(table: Table, fk: ForeignKeyConstraint) -> list[str]:
    parent = fk.referred_table
    if not is_tenant_table(parent):
        return []  # a reference to a global table (apps): any node has it
    pairs = [(e.parent.name, e.column.name) for e in fk.elements]
    local = [p for p, _ in pairs]
    local_columns = [APP, *(p for p, _ in pairs if p != APP)]
    remote_columns = [f"{parent.name}.{c}" for c in [APP, *(r for p, r in pairs if p != APP)]]
    fix = f"ForeignKeyConstraint({local_columns!r}, {remote_columns!r}, ondelete=...)"
    found: list[str] = []
    if (APP, APP) not in pairs:
        found.append(
            f"{table.name}: foreign key {fk.name} {_columns(local)} -> {parent.name} does not "
            f"include {APP} on both sides: declare {fix} (a row can then only reference a row "
            f"of its own app) {HOW}"
        )
    elif pairs[0] != (APP, APP):
        found.append(
            f"{table.name}: foreign key {fk.name} should list {APP} first on both sides: {fix}"
        )
    if (fk.ondelete or "").upper() in ("SET NULL", "SET DEFAULT"):
        found.append(
            f"{table.name}: foreign key {fk.name} is ON DELETE {fk.ondelete.upper()}, which "
            f"would set {APP} too (and Citus refuses it on a key with the distribution column): "
            f"use RESTRICT or CASCADE, and clear the reference in the service, in the same "
            f"transaction as the delete {HOW}"
        )
    return found


def test_every_tenant_key_includes_app_id() -> None:
    problems = key_problems(metadata)
    assert not problems, "\n".join(problems)


def test_the_global_tables_are_the_only_ones_without_app_id() -> None:
    without = {t.name for t in metadata.sorted_tables if APP not in t.c}
    assert without == {n for n in GLOBAL_TABLES if APP not in metadata.tables[n].c}
    assert without == {"apps", "rate_limit_buckets"}
    # A global table with app_id is a deliberate, reasoned exception (keys found by hash).
    assert {n for n in GLOBAL_TABLES if APP in metadata.tables[n].c} == {"api_keys"}


def test_no_table_takes_its_ids_from_a_sequence() -> None:
    """Ids are made by the application (kit/ids.py: time-ordered, 80 random bits), so no
    database node hands them out: nothing to coordinate between the nodes of a cluster."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            kind = getattr(column.type, "impl", column.type)  # AutoString is a String
            assert isinstance(kind, String), (table.name, column.name, column.type)
        assert all(c.server_default is None for c in table.columns), table.name


def _bad_schema() -> MetaData:
    """One table breaking each rule (and apps, to reference)."""
    meta = MetaData()
    Table("apps", meta, Column("id", String(30), primary_key=True))
    Table(
        "mentors",
        meta,
        Column("app_id", String(30), nullable=True),
        Column("id", String(30)),
        Column("external_id", String(30)),
        PrimaryKeyConstraint("id", name="pk_mentors"),
        UniqueConstraint("external_id", name="uq_mentors_external_id"),
        ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_mentors_app_id_apps"),
    )
    Table(
        "sessions",
        meta,
        Column("app_id", String(30), nullable=False),
        Column("id", String(30)),
        Column("mentor_id", String(30)),
        Column("buddy_id", String(30)),
        Column("slot", Integer),
        PrimaryKeyConstraint("app_id", "id", name="pk_sessions"),
        ForeignKeyConstraint(["mentor_id"], ["mentors.id"], name="fk_sessions_mentor_id_mentors"),
        ForeignKeyConstraint(
            ["app_id", "buddy_id"],
            ["mentors.app_id", "mentors.id"],
            name="fk_sessions_app_id_mentors",
            ondelete="SET NULL",
        ),
        ExcludeConstraint(
            (literal_column("mentor_id"), "="),
            (func.int4range(literal_column("slot"), literal_column("slot")), "&&"),
            name="ex_sessions_overlap",
        ),
        Index("ix_sessions_slot", "slot", unique=True),
    )
    Table("reminders", meta, Column("id", String(30), primary_key=True))
    Table(
        "api_keys",
        meta,
        Column("id", String(30), primary_key=True),
        Column("app_id", String(30), nullable=False),
        Column("session_id", String(30)),
        ForeignKeyConstraint(
            ["app_id", "session_id"],
            ["sessions.app_id", "sessions.id"],
            name="fk_api_keys_app_id_sessions",
        ),
    )
    return meta


def test_the_check_names_every_broken_rule_and_its_fix() -> None:
    """The check itself can fail: each rule, broken once, is reported with what to do."""
    problems = "\n".join(key_problems(_bad_schema()))
    for expected in (
        "'rate_limit_buckets', which no model defines",
        "reminders: no app_id column. Derive its model from TenantOwned",
        "mentors.app_id is nullable",
        "mentors: primary key pk_mentors is (id); make it (app_id, id)",
        "unique constraint uq_mentors_external_id on (external_id) does not include app_id: "
        "make it UniqueConstraint('app_id', 'external_id')",
        "foreign key fk_sessions_mentor_id_mentors (mentor_id) -> mentors does not include "
        "app_id on both sides: declare ForeignKeyConstraint(['app_id', 'mentor_id'], "
        "['mentors.app_id', 'mentors.id']",
        "fk_sessions_app_id_mentors is ON DELETE SET NULL, which would set app_id too",
        "exclusion constraint ex_sessions_overlap does not include (app_id WITH =)",
        "unique index ix_sessions_slot on (slot) does not include app_id",
        "api_keys is global (GLOBAL_TABLES) but its foreign key fk_api_keys_app_id_sessions "
        "references the tenant table sessions",
    ):
        assert expected in problems, f"{expected!r} not in:\n{problems}"
    assert "pk_sessions" not in problems  # (app_id, id) is right


# --- Citus ------------------------------------------------------------------------------------


def test_the_citus_ddl_distributes_every_tenant_table_after_its_parents() -> None:
    statements = citus_ddl(metadata)
    placed = [re.search(r"\('(\w+)'", s).group(1) for s in statements]  # type: ignore[union-attr]
    assert len(placed) == len(set(placed))
    tenant = {t.name for t in metadata.sorted_tables if is_tenant_table(t)}
    reference = {n for n, g in GLOBAL_TABLES.items() if g.placement is Placement.reference}
    assert set(placed) == tenant | reference
    for table in metadata.sorted_tables:
        if table.name not in placed:
            continue
        for fk in table.foreign_key_constraints:
            parent = fk.referred_table.name
            if parent != table.name:
                assert placed.index(parent) < placed.index(table.name), (table.name, parent)
    distributed = [s for s in statements if "create_distributed_table" in s]
    assert len(distributed) == len(tenant)
    anchor = re.search(r"\('(\w+)'", distributed[0]).group(1)  # type: ignore[union-attr]
    assert "colocate_with => 'none'" in distributed[0]
    assert all(f"'app_id', colocate_with => '{anchor}'" in s for s in distributed[1:])
    assert all("create_reference_table" in s for s in statements[: len(reference)])


def test_docs_scaling_shows_the_ddl_the_models_give() -> None:
    """docs/scaling.md shows the statements as citus_ddl() writes them, whole and in order."""
    text = SCALING_DOC.read_text()
    block = re.search(r"```sql\n-- citus_ddl\(\)\n(.*?)```", text, re.S)
    assert block is not None, "docs/scaling.md lost its ```sql -- citus_ddl() block"
    assert block.group(1).splitlines() == citus_ddl(metadata), (
        "docs/scaling.md is out of date: paste the output of\n"
        "  python -c 'from mentorapi.db.distribution import citus_ddl; "
        "from mentorapi.db.models import metadata; print(*citus_ddl(metadata), sep=chr(10))'"
    )
