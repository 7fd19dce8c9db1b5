"""The base of every table: a prefixed id, the owning client app, UTC timestamps."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from mentorapi.db.types import UTCDateTime
from mentorapi.kit.timezones import utcnow

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
    """Every domain row belongs to exactly one client app; every query filters on app_id."""

    app_id: str = Field(foreign_key="apps.id", ondelete="CASCADE", index=True, max_length=30)
