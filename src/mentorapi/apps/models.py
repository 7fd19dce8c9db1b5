from datetime import datetime

from sqlmodel import Field

from mentorapi.db.base import Timestamped
from mentorapi.db.types import UTCDateTime
from mentorapi.kit.ids import new_id


class App(Timestamped, table=True):
    __tablename__ = "apps"

    id: str = Field(default_factory=lambda: new_id("app"), primary_key=True, max_length=30)
    name: str = Field(max_length=200)


class ApiKey(Timestamped, table=True):
    """A secret key of an app. Only its SHA-256 is stored: keys are 256-bit random, so a fast
    hash is enough (no password stretching needed) and lookup is one indexed equality."""

    __tablename__ = "api_keys"

    id: str = Field(default_factory=lambda: new_id("key"), primary_key=True, max_length=30)
    app_id: str = Field(foreign_key="apps.id", ondelete="CASCADE", index=True, max_length=30)
    key_hash: str = Field(max_length=64, unique=True)
    # The first characters of the key, so a person can tell keys apart in a list.
    prefix: str = Field(max_length=16)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
