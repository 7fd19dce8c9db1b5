"""tenant keys: every key of a tenant table includes app_id

Revision ID: 2d1ddacc8d5b
Revises: e4b7c1d9a2f3
Create Date: 2026-12-05 09:30:00

Every tenant table's primary key becomes (app_id, <its key>), app_id first: every query names
the app, so the key's index serves each lookup and each app's rows in id order; the separate
indexes on app_id alone (and mentors' (app_id, id)) are then redundant and dropped. Every
foreign key between tenant tables becomes (app_id, x_id) -> parent(app_id, id), so a row can
only reference a row of its own app, which the database now guarantees; feedback's one-per-author
rule and the sessions' no-overlap exclusion include app_id. This is what Citus needs to
distribute every tenant table by app_id (docs/scaling.md).

The link tables already carry app_id; it is set from their mentor or mentee first, so a link
always belongs to its owner's app. A reference that crosses apps cannot be repaired: the upgrade
stops before changing anything and says which rows. No foreign key is ON DELETE SET NULL (that
would set app_id to NULL too): each is CASCADE or RESTRICT, as before.

PostgreSQL alters in place: every old foreign key is dropped before the primary keys they rest
on change. SQLite rebuilds each table once (batch mode) with foreign keys off, as Alembic runs
it (a rebuilt parent would otherwise cascade its delete into its children), and checks every
foreign key afterwards.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "2d1ddacc8d5b"
down_revision: str | None = "e4b7c1d9a2f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


@dataclass(frozen=True)
class Ref:
    table: str
    column: str
    parent: str
    ondelete: str

    @property
    def old_name(self) -> str:
        return f"fk_{self.table}_{self.column}_{self.parent}"

    @property
    def new_name(self) -> str:
        return f"fk_{self.table}_app_id_{self.parent}"


# Every foreign key between tenant tables.
REFS = [
    Ref("availabilities", "mentor_id", "mentors", "CASCADE"),
    Ref("deliveries", "event_id", "events", "CASCADE"),
    Ref("deliveries", "endpoint_id", "webhook_endpoints", "CASCADE"),
    Ref("goals", "mentee_id", "mentees", "CASCADE"),
    Ref("goals", "skill_id", "skills", "RESTRICT"),
    Ref("mentee_skills", "mentee_id", "mentees", "CASCADE"),
    Ref("mentee_skills", "skill_id", "skills", "RESTRICT"),
    Ref("mentor_skills", "mentor_id", "mentors", "CASCADE"),
    Ref("mentor_skills", "skill_id", "skills", "RESTRICT"),
    Ref("series", "mentor_id", "mentors", "CASCADE"),
    Ref("series", "mentee_id", "mentees", "CASCADE"),
    Ref("delivery_attempts", "delivery_id", "deliveries", "CASCADE"),
    Ref("delivery_attempts", "endpoint_id", "webhook_endpoints", "CASCADE"),
    Ref("milestones", "goal_id", "goals", "CASCADE"),
    Ref("sessions", "mentor_id", "mentors", "CASCADE"),
    Ref("sessions", "mentee_id", "mentees", "CASCADE"),
    Ref("sessions", "skill_id", "skills", "RESTRICT"),
    Ref("sessions", "series_id", "series", "CASCADE"),
    Ref("action_items", "session_id", "sessions", "CASCADE"),
    Ref("feedback", "session_id", "sessions", "CASCADE"),
    Ref("feedback", "mentor_id", "mentors", "CASCADE"),
    Ref("feedback", "mentee_id", "mentees", "CASCADE"),
    Ref("session_notes", "session_id", "sessions", "CASCADE"),
    Ref("impact_updates", "feedback_id", "feedback", "CASCADE"),
]

# Each tenant table's primary key before (app_id is put first), parents before children.
KEYS = {
    "events": ["id"],
    "mentees": ["id"],
    "mentors": ["id"],
    "skills": ["id"],
    "webhook_endpoints": ["id"],
    "availabilities": ["mentor_id"],
    "deliveries": ["id"],
    "goals": ["id"],
    "mentee_skills": ["mentee_id", "skill_id"],
    "mentor_skills": ["mentor_id", "skill_id"],
    "series": ["id"],
    "delivery_attempts": ["id"],
    "milestones": ["id"],
    "sessions": ["id"],
    "action_items": ["id"],
    "feedback": ["id"],
    "session_notes": ["session_id"],
    "impact_updates": ["id"],
}

# The indexes on app_id alone, a prefix of the new primary keys.
APP_ID_INDEXES = [t for t in KEYS if t not in ("mentee_skills", "mentor_skills")]
# (table, name, columns): replaced by (table, name, columns) in `upgrade`.
OLD_INDEXES = [
    ("mentors", "ix_mentors_app_id_id", ["app_id", "id"]),
    ("mentor_skills", "ix_mentor_skills_skill_id_mentor_id", ["skill_id", "mentor_id"]),
]
NEW_INDEXES = [
    (
        "mentor_skills",
        "ix_mentor_skills_app_id_skill_id_mentor_id",
        ["app_id", "skill_id", "mentor_id"],
    ),
]
OLD_UNIQUE = ("feedback", "uq_feedback_session_id_author", ["session_id", "author"])
NEW_UNIQUE = (
    "feedback",
    "uq_feedback_app_id_session_id_author",
    ["app_id", "session_id", "author"],
)

_OVERLAP = (
    "EXCLUDE USING gist ({columns}tstzrange(starts_at, ends_at) WITH &&) "
    "WHERE (status IN ('requested', 'booked') AND starts_at IS NOT NULL)"
)
OLD_EXCLUSION = _OVERLAP.format(columns="mentor_id WITH =, ")
NEW_EXCLUSION = _OVERLAP.format(columns="app_id WITH =, mentor_id WITH =, ")

Step = Callable[[BatchOperations], None]


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _alter(phases: dict[str, list[list[Step]]]) -> None:
    """Run each table's steps, phase by phase (PostgreSQL: every table's drops, then every
    primary key, then every addition), or all of a table's steps in one rebuild (SQLite)."""
    if _is_sqlite():
        for table, steps in phases.items():
            with op.batch_alter_table(table, recreate="always") as batch:
                for phase in steps:
                    for step in phase:
                        step(batch)
        return
    for i in range(3):
        for table, steps in phases.items():
            if steps[i]:
                with op.batch_alter_table(table) as batch:
                    for step in steps[i]:
                        step(batch)


def _drop_fk(name: str) -> Step:
    return lambda b: b.drop_constraint(name, type_="foreignkey")


def _add_fk(name: str, parent: str, local: list[str], remote: list[str], ondelete: str) -> Step:
    return lambda b: b.create_foreign_key(name, parent, local, remote, ondelete=ondelete)


def _primary_key(table: str, columns: list[str]) -> list[Step]:
    return [
        lambda b: b.drop_constraint(f"pk_{table}", type_="primary"),
        lambda b: b.create_primary_key(f"pk_{table}", columns),
    ]


def _drop_index(name: str) -> Step:
    return lambda b: b.drop_index(name)


def _add_index(name: str, columns: list[str]) -> Step:
    return lambda b: b.create_index(name, columns, unique=False)


def _plan(*, up: bool) -> dict[str, list[list[Step]]]:
    """Each table's [drops, primary key, additions], upgrading or downgrading."""
    phases: dict[str, list[list[Step]]] = {t: [[], [], []] for t in KEYS}
    for ref in REFS:
        old = _add_fk(ref.old_name, ref.parent, [ref.column], ["id"], ref.ondelete)
        new = _add_fk(
            ref.new_name, ref.parent, ["app_id", ref.column], ["app_id", "id"], ref.ondelete
        )
        phases[ref.table][0].append(_drop_fk(ref.old_name if up else ref.new_name))
        phases[ref.table][2].append(new if up else old)
    for table, key in KEYS.items():
        phases[table][1] = _primary_key(table, ["app_id", *key] if up else key)
    for table in APP_ID_INDEXES:
        name = f"ix_{table}_app_id"
        phases[table][0 if up else 2].append(
            _drop_index(name) if up else _add_index(name, ["app_id"])
        )
    dropped, added = (OLD_INDEXES, NEW_INDEXES) if up else (NEW_INDEXES, OLD_INDEXES)
    for table, name, columns in added:  # first, so a foreign key never lacks an index
        phases[table][2].insert(0, _add_index(name, columns))
    for table, name, _ in dropped:
        phases[table][2].append(_drop_index(name))
    (table, old_unique, _), (_, new_unique, new_columns) = (
        (OLD_UNIQUE, NEW_UNIQUE) if up else (NEW_UNIQUE, OLD_UNIQUE)
    )
    phases[table][0].append(lambda b: b.drop_constraint(old_unique, type_="unique"))
    phases[table][2].append(lambda b: b.create_unique_constraint(new_unique, new_columns))
    return phases


def _backfill_links() -> None:
    """A skill link belongs to its mentor's (mentee's) app: set app_id from the owner."""
    for table, owner, column in (
        ("mentor_skills", "mentors", "mentor_id"),
        ("mentee_skills", "mentees", "mentee_id"),
    ):
        owner_app = f"(SELECT o.app_id FROM {owner} o WHERE o.id = {table}.{column})"
        op.execute(f"UPDATE {table} SET app_id = {owner_app} WHERE app_id <> {owner_app}")


def _refuse_cross_app_references() -> None:
    """Stop, changing nothing, if a row references a row of another app (or none at all): the
    new keys could not hold it, and no rule can tell which app it belongs to."""
    bind = op.get_bind()
    found = []
    for ref in REFS:
        count = bind.execute(
            sa.text(
                f"SELECT count(*) FROM {ref.table} c WHERE c.{ref.column} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {ref.parent} p "
                f"WHERE p.app_id = c.app_id AND p.id = c.{ref.column})"
            )
        ).scalar_one()
        if count:
            found.append(
                f"{count} rows of {ref.table} whose {ref.column} is not a row of "
                f"{ref.parent} of their own app"
            )
    if found:
        raise RuntimeError(
            "tenant keys: cannot migrate, rows reference another app's rows (fix or delete "
            "them, then migrate again): " + "; ".join(found)
        )


def _sqlite_foreign_keys_off() -> None:
    # Rebuilding a table drops the old one: with foreign keys on, SQLite would first delete
    # its rows, cascading into every child table. Alembic's connection leaves them off.
    if op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("tenant keys: run this migration with PRAGMA foreign_keys=OFF")


def _sqlite_check_foreign_keys() -> None:
    broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"tenant keys: foreign keys broken after the rebuild: {broken[:10]}")


def upgrade() -> None:
    _backfill_links()
    _refuse_cross_app_references()
    if _is_sqlite():
        _sqlite_foreign_keys_off()
        _alter(_plan(up=True))
        _sqlite_check_foreign_keys()
        return
    op.execute("ALTER TABLE sessions DROP CONSTRAINT ex_sessions_mentor_no_overlap")
    _alter(_plan(up=True))
    op.execute(f"ALTER TABLE sessions ADD CONSTRAINT ex_sessions_mentor_no_overlap {NEW_EXCLUSION}")


def downgrade() -> None:
    if _is_sqlite():
        _sqlite_foreign_keys_off()
        _alter(_plan(up=False))
        _sqlite_check_foreign_keys()
        return
    op.execute("ALTER TABLE sessions DROP CONSTRAINT ex_sessions_mentor_no_overlap")
    _alter(_plan(up=False))
    op.execute(f"ALTER TABLE sessions ADD CONSTRAINT ex_sessions_mentor_no_overlap {OLD_EXCLUSION}")
