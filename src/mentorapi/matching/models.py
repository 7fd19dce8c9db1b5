"""Matching's tables: an app's weights, a mentee's word on a mentor, and the text the database
searches for each mentor.

`mentor_documents` is written by database triggers only (the matching migration): one row per
mentor with the text of their headline and skill names (`head`), skill notes, bio and the topics
of their completed sessions, and the fields retrieval filters on; on PostgreSQL also the
weighted tsvector (`search`), on SQLite the FTS5 tables read it (external content). Triggers,
not service code, because every writer of mentors and sessions must keep it current (the
services, a skill's rename rewriting `mentors.offers` in bulk, imports, a future path nobody
remembers to hook), in the same transaction, and the text is only ever read by the database's
own engines.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field, SQLModel

from mentorapi.db.base import Timestamped, same_app
from mentorapi.db.types import JSONList
from mentorapi.kit.enums import NamedStrEnum


class FeedbackAction(NamedStrEnum):
    dismiss = "dismiss"
    bookmark = "bookmark"


def _app_key() -> Column[str]:
    return Column(String(30), ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)


class MatchingPolicy(Timestamped, table=True):
    """An app's weights; an app that never set one has the defaults (no row)."""

    __tablename__ = "matching_policies"

    app_id: str = Field(sa_column=_app_key())
    weights: dict[str, float] = Field(sa_type=JSONList, nullable=False)
    version: int = Field(default=1)


class MatchFeedback(Timestamped, table=True):
    """A mentee's last word on a mentor: `dismiss` (never recommend again) or `bookmark`."""

    __tablename__ = "match_feedback"
    __table_args__ = (
        same_app("mentee_id", "mentees"),
        same_app("mentor_id", "mentors"),
        # The cascade from a deleted mentor (the key serves the mentee's side).
        Index("ix_match_feedback_app_id_mentor_id", "app_id", "mentor_id"),
    )

    app_id: str = Field(sa_column=_app_key())
    mentee_id: str = Field(sa_column=Column(String(30), primary_key=True))
    mentor_id: str = Field(sa_column=Column(String(30), primary_key=True))
    action: str = Field(max_length=8)


# tsvector on PostgreSQL; SQLite keeps it NULL (its FTS5 tables index the text columns).
SearchVector: Any = Text().with_variant(TSVECTOR(), "postgresql")


class MentorDocument(SQLModel, table=True):
    __tablename__ = "mentor_documents"
    __table_args__ = (
        same_app("mentor_id", "mentors"),
        # SQLite's FTS5 tables find a document by this integer (their rowid): a rowid of our
        # own, since SQLite's implicit rowid may change on VACUUM. NULL on PostgreSQL.
        Index("ix_mentor_documents_fts_rowid", "fts_rowid"),
        # PostgreSQL's engines: the weighted tsvector for full-text search, trigrams of the
        # headline and skill names for short or misspelled asks (pg_trgm).
        Index("ix_mentor_documents_search", "search", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        Index(
            "ix_mentor_documents_head_trgm",
            "head",
            postgresql_using="gin",
            postgresql_ops={"head": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    app_id: str = Field(sa_column=_app_key())
    mentor_id: str = Field(sa_column=Column(String(30), primary_key=True))
    head: str = Field(default="", sa_column=Column(Text, nullable=False))
    notes: str = Field(default="", sa_column=Column(Text, nullable=False))
    bio: str = Field(default="", sa_column=Column(Text, nullable=False))
    topics: str = Field(default="", sa_column=Column(Text, nullable=False))
    search: str | None = Field(default=None, sa_column=Column(SearchVector, nullable=True))
    fts_rowid: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    # What retrieval filters on, copied from the mentor, so that it reads this table alone:
    # `active` is the one definition of an active mentor (a skill, a format and a session
    # length offered).
    active: bool = Field(default=False)
    languages: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    formats: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    session_lengths: list[int] = Field(default_factory=list, sa_type=JSONList, nullable=False)


# SQLite's FTS5 tables over the documents (created by the migration, outside the models) and
# the shadow tables FTS5 keeps for each.
SEARCH_TABLES = ("mentor_documents_fts", "mentor_documents_trigram")


# Indexes only PostgreSQL has (declared with ddl_if, which autogenerate does not read); the
# apps' is CORS's (apps/models.py).
POSTGRES_ONLY_INDEXES = (
    "ix_mentor_documents_search",
    "ix_mentor_documents_head_trgm",
    "ix_apps_cors_origins",
)


def is_search_table(name: str) -> bool:
    """A table of the text engine, not of the models."""
    return any(name == t or name.startswith(t + "_") for t in SEARCH_TABLES)


def compared(dialect: str) -> Callable[[object, str | None, str, bool, object], bool]:
    """Alembic's `include_object` for a database of `dialect`: what the models and the
    migrations must agree on (not SQLite's FTS5 tables, nor PostgreSQL's indexes elsewhere)."""

    def include(_object: object, name: str | None, type_: str, _r: bool, _c: object) -> bool:
        if type_ == "table" and name is not None and is_search_table(name):
            return False
        return not (type_ == "index" and dialect != "postgresql" and name in POSTGRES_ONLY_INDEXES)

    return include
