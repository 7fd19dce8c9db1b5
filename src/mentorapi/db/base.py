"""The base of every table: a prefixed id, the owning client app, UTC timestamps."""

from datetime import datetime

from sqlalchemy import ForeignKeyConstraint
from sqlmodel import Field, SQLModel

from mentorapi.db import factories
from mentorapi.db.types import UTCDateTime
from mentorapi.kit.timezones import utcnow

factories.install()

# Named constraints, so migrations can alter and drop them by name on every database.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata


class Timestamped(SQLModel):
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class TenantOwned(Timestamped):
    """Every domain row belongs to exactly one client app; every query filters on app_id.

    `app_id` is the first column of the primary key: (app_id, id) is unique, serves every
    lookup (which always names the app) and the app's rows in id order, and lets the table be
    distributed by app (db/distribution.py). It needs no index of its own."""

    app_id: str = Field(foreign_key="apps.id", ondelete="CASCADE", primary_key=True, max_length=30)


def same_app(column: str, parent: str, *, ondelete: str = "CASCADE") -> ForeignKeyConstraint:
    """(app_id, column) -> parent(app_id, id): a row can only reference a row of its own app,
    which the database itself then guarantees. Never ON DELETE SET NULL: that would set app_id
    to NULL as well (clear such a reference in the service instead)."""
    return ForeignKeyConstraint(
        ["app_id", column], [f"{parent}.app_id", f"{parent}.id"], ondelete=ondelete
    )
