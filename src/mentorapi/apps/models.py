import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Index
from sqlmodel import Field

from mentorapi.db.base import Timestamped
from mentorapi.db.types import JSONList, UTCDateTime
from mentorapi.kit.ids import new_id

TOKEN_SECRET_PREFIX = "mts_"


def new_token_secret() -> str:
    """256 random bits: the HS256 key of an app's member tokens (RFC 7518 wants >= 256 bits)."""
    return TOKEN_SECRET_PREFIX + secrets.token_urlsafe(32)


class App(Timestamped, table=True):
    __tablename__ = "apps"
    __table_args__ = (
        # A CORS preflight carries no credentials, so its origin is looked up in every app's
        # list (apps/cors.py): an index probe on PostgreSQL, not a read of every app per
        # request anyone may send. SQLite's json_each has no index to use (one process, few
        # apps).
        Index(
            "ix_apps_cors_origins",
            "cors_origins",
            postgresql_using="gin",
            postgresql_ops={"cors_origins": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: str = Field(default_factory=lambda: new_id("app"), primary_key=True, max_length=30)
    name: str = Field(max_length=200)
    # Member tokens are signed with the current secret. After a rotation the previous one keeps
    # verifying until it lapses, so tokens already handed out keep working (at most 24 h).
    # Stored as is, not hashed: verifying an HMAC needs the key itself.
    token_secret: str = Field(default_factory=new_token_secret, max_length=100)
    previous_token_secret: str | None = Field(default=None, max_length=100)
    previous_token_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Browser origins allowed to call with this app's member tokens (CORS).
    cors_origins: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)


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


class AppFields(Protocol):
    """What reading an app needs: an App, or an AppRecord (the plain row the API-key lookup of
    every request reads; services that change the app load the App itself)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def token_secret(self) -> str: ...
    @property
    def previous_token_secret(self) -> str | None: ...
    @property
    def previous_token_secret_expires_at(self) -> datetime | None: ...
    @property
    def cors_origins(self) -> list[str]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class AppRecord:
    id: str
    name: str
    token_secret: str
    previous_token_secret: str | None
    previous_token_secret_expires_at: datetime | None
    cors_origins: list[str]
    created_at: datetime
    updated_at: datetime
