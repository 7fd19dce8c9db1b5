"""matching: policies, a mentee's dismissals and bookmarks, and the mentors' search documents

Revision ID: a3d5f7b9c1e2
Revises: f1a3c5e7b9d2
Create Date: 2026-12-06 09:00:00

`mentor_documents` holds, per mentor, the text recommendations search: `head` (headline and
skill names), `notes` (skill notes), `bio`, `topics` (of completed sessions, the latest 8,000
characters); and what their hard filters read (`active`: a skill, a format and a session length
offered; `languages`, `formats`, `session_lengths`), so that retrieval reads this table alone. Triggers keep it current in the transaction of every change, whoever writes it:
a mentor's insert or a change of headline, bio, offers, languages, formats or lengths (`mentors.offers` is the copy of their
skills that every skill change already rewrites), and a session becoming completed.

PostgreSQL: a BEFORE trigger on the document computes `search`, the weighted tsvector (A head,
B notes, C bio, D topics) that `ts_rank_cd` ranks, GIN-indexed; `head` also has a trigram index
(pg_trgm) for short or misspelled asks. SQLite: two FTS5 tables read the documents as external
content by `fts_rowid`: `mentor_documents_fts` (porter stemming, ranked by bm25) and
`mentor_documents_trigram` (trigram tokenizer over `head`), kept by triggers on the documents.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import mentorapi.db.types

revision: str = "a3d5f7b9c1e2"
down_revision: str | None = "f1a3c5e7b9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOPICS_KEPT = 8000

# `<%` (word_similarity at least pg_trgm.word_similarity_threshold, served by the trigram
# index) reads its threshold from a setting; its default, 0.6, misses a misspelled skill name
# ("pivto tabels" is 0.375 from "Pivot tables"). The database's default for every connection:
# a setting per transaction would not hold in the autocommit reads (GraphQL queries) and a
# setting per connection would not survive PgBouncer's transaction pooling. Connections opened
# before the migration keep 0.6 until they reconnect (fewer typos found, nothing wrong).
# Parallel plans read 0.3 too: planning a statement with `<%` loads pg_trgm in the leader, and
# workers load the leader's libraries, then take its settings, before parallel mode. A parallel
# VACUUM from a session that has not loaded pg_trgm logs "parameter
# pg_trgm.word_similarity_threshold cannot be set during a parallel operation": its worker loads
# pg_trgm for the trigram index and cannot apply the database's setting then. Cosmetic: VACUUM
# never compares similarities (a `SELECT word_similarity('', '')` first silences it).
TRIGRAM_THRESHOLD = 0.3
_PG_DATABASE_SETTING = """
    DO $$ BEGIN
        EXECUTE format('ALTER DATABASE %I {change}', current_database());
    END $$
"""

PG_UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    _PG_DATABASE_SETTING.format(
        change=f"SET pg_trgm.word_similarity_threshold = {TRIGRAM_THRESHOLD}"
    ),
    """
    CREATE FUNCTION mentorapi_document_search() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search :=
            setweight(to_tsvector('english'::regconfig, NEW.head), 'A')
            || setweight(to_tsvector('english'::regconfig, NEW.notes), 'B')
            || setweight(to_tsvector('english'::regconfig, NEW.bio), 'C')
            || setweight(to_tsvector('english'::regconfig, NEW.topics), 'D');
        RETURN NEW;
    END
    $$
    """,
    "CREATE TRIGGER mentor_documents_search BEFORE INSERT OR UPDATE ON mentor_documents "
    "FOR EACH ROW EXECUTE FUNCTION mentorapi_document_search()",
    """
    CREATE FUNCTION mentorapi_mentor_document() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        names text;
        notes text;
    BEGIN
        SELECT coalesce(string_agg(o -> 'skill' ->> 'name', ' '), ''),
               coalesce(string_agg(o ->> 'note', ' '), '')
          INTO names, notes
          FROM json_array_elements(NEW.offers::json) AS o;
        INSERT INTO mentor_documents (app_id, mentor_id, head, notes, bio, topics, active,
                                      languages, formats, session_lengths)
        VALUES (NEW.app_id, NEW.id, concat_ws(' ', NEW.headline, names), notes, NEW.bio, '',
                json_array_length(NEW.offers::json) > 0 AND jsonb_array_length(NEW.formats) > 0
                AND jsonb_array_length(NEW.session_lengths) > 0,
                NEW.languages, NEW.formats, NEW.session_lengths)
        ON CONFLICT (app_id, mentor_id) DO UPDATE
            SET head = EXCLUDED.head, notes = EXCLUDED.notes, bio = EXCLUDED.bio,
                active = EXCLUDED.active, languages = EXCLUDED.languages,
                formats = EXCLUDED.formats, session_lengths = EXCLUDED.session_lengths;
        RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER mentors_document_insert AFTER INSERT ON mentors "
    "FOR EACH ROW EXECUTE FUNCTION mentorapi_mentor_document()",
    "CREATE TRIGGER mentors_document_update AFTER UPDATE OF headline, bio, offers, languages, "
    "formats, session_lengths ON mentors "
    "FOR EACH ROW WHEN (OLD.headline IS DISTINCT FROM NEW.headline "
    "OR OLD.bio IS DISTINCT FROM NEW.bio OR OLD.offers::text IS DISTINCT FROM NEW.offers::text "
    "OR OLD.languages IS DISTINCT FROM NEW.languages OR OLD.formats IS DISTINCT FROM NEW.formats "
    "OR OLD.session_lengths IS DISTINCT FROM NEW.session_lengths) "
    "EXECUTE FUNCTION mentorapi_mentor_document()",
    f"""
    CREATE FUNCTION mentorapi_session_topic() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE mentor_documents
           SET topics = right(concat_ws(E'\\n', nullif(topics, ''), NEW.topic), {TOPICS_KEPT})
         WHERE app_id = NEW.app_id AND mentor_id = NEW.mentor_id;
        RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER sessions_topic_insert AFTER INSERT ON sessions FOR EACH ROW "
    "WHEN (NEW.status = 'completed') EXECUTE FUNCTION mentorapi_session_topic()",
    "CREATE TRIGGER sessions_topic_update AFTER UPDATE OF status ON sessions FOR EACH ROW "
    "WHEN (NEW.status = 'completed' AND OLD.status IS DISTINCT FROM 'completed') "
    "EXECUTE FUNCTION mentorapi_session_topic()",
    "CREATE INDEX ix_mentor_documents_search ON mentor_documents USING gin (search)",
    "CREATE INDEX ix_mentor_documents_head_trgm ON mentor_documents USING gin (head gin_trgm_ops)",
]

PG_DOWNGRADE = [
    _PG_DATABASE_SETTING.format(change="RESET pg_trgm.word_similarity_threshold"),
    "DROP TRIGGER sessions_topic_update ON sessions",
    "DROP TRIGGER sessions_topic_insert ON sessions",
    "DROP FUNCTION mentorapi_session_topic()",
    "DROP TRIGGER mentors_document_update ON mentors",
    "DROP TRIGGER mentors_document_insert ON mentors",
    "DROP FUNCTION mentorapi_mentor_document()",
    "DROP TRIGGER mentor_documents_search ON mentor_documents",
    "DROP FUNCTION mentorapi_document_search()",
]

_SQLITE_NAMES = (
    "coalesce((SELECT group_concat(json_extract(o.value, '$.skill.name'), ' ') "
    "FROM json_each(NEW.offers) AS o), '')"
)
_SQLITE_NOTES = (
    "coalesce((SELECT group_concat(json_extract(o.value, '$.note'), ' ') "
    "FROM json_each(NEW.offers) AS o), '')"
)
_SQLITE_HEAD = f"trim(NEW.headline || ' ' || {_SQLITE_NAMES})"
_SQLITE_ACTIVE = (
    "json_array_length(NEW.offers) > 0 AND json_array_length(NEW.formats) > 0 "
    "AND json_array_length(NEW.session_lengths) > 0"
)
_FTS_COLUMNS = "head, notes, bio, topics"

SQLITE_UPGRADE = [
    "CREATE VIRTUAL TABLE mentor_documents_fts USING fts5(head, notes, bio, topics, "
    "content='mentor_documents', content_rowid='fts_rowid', tokenize='porter unicode61')",
    "CREATE VIRTUAL TABLE mentor_documents_trigram USING fts5(head, "
    "content='mentor_documents', content_rowid='fts_rowid', tokenize='trigram')",
    # A rowid of our own (SQLite's implicit one may change on VACUUM); writers take turns.
    f"""
    CREATE TRIGGER mentors_document_insert AFTER INSERT ON mentors BEGIN
        INSERT INTO mentor_documents (app_id, mentor_id, head, notes, bio, topics, active,
                                      languages, formats, session_lengths, fts_rowid)
        VALUES (NEW.app_id, NEW.id, {_SQLITE_HEAD}, {_SQLITE_NOTES}, NEW.bio, '',
                {_SQLITE_ACTIVE}, NEW.languages, NEW.formats, NEW.session_lengths,
                (SELECT coalesce(max(fts_rowid), 0) + 1 FROM mentor_documents));
    END
    """,
    f"""
    CREATE TRIGGER mentors_document_update
    AFTER UPDATE OF headline, bio, offers, languages, formats, session_lengths ON mentors
    WHEN OLD.headline IS NOT NEW.headline OR OLD.bio IS NOT NEW.bio
         OR OLD.offers IS NOT NEW.offers OR OLD.languages IS NOT NEW.languages
         OR OLD.formats IS NOT NEW.formats OR OLD.session_lengths IS NOT NEW.session_lengths
    BEGIN
        UPDATE mentor_documents
           SET head = {_SQLITE_HEAD}, notes = {_SQLITE_NOTES}, bio = NEW.bio,
               active = {_SQLITE_ACTIVE}, languages = NEW.languages, formats = NEW.formats,
               session_lengths = NEW.session_lengths
         WHERE app_id = NEW.app_id AND mentor_id = NEW.id;
    END
    """,
    f"""
    CREATE TRIGGER sessions_topic_insert AFTER INSERT ON sessions
    WHEN NEW.status = 'completed' BEGIN
        UPDATE mentor_documents
           SET topics = substr(topics || CASE WHEN topics = '' THEN '' ELSE char(10) END
                               || NEW.topic, -{TOPICS_KEPT})
         WHERE app_id = NEW.app_id AND mentor_id = NEW.mentor_id;
    END
    """,
    f"""
    CREATE TRIGGER sessions_topic_update AFTER UPDATE OF status ON sessions
    WHEN NEW.status = 'completed' AND OLD.status IS NOT 'completed' BEGIN
        UPDATE mentor_documents
           SET topics = substr(topics || CASE WHEN topics = '' THEN '' ELSE char(10) END
                               || NEW.topic, -{TOPICS_KEPT})
         WHERE app_id = NEW.app_id AND mentor_id = NEW.mentor_id;
    END
    """,
    f"""
    CREATE TRIGGER mentor_documents_ai AFTER INSERT ON mentor_documents BEGIN
        INSERT INTO mentor_documents_fts (rowid, {_FTS_COLUMNS})
        VALUES (NEW.fts_rowid, NEW.head, NEW.notes, NEW.bio, NEW.topics);
        INSERT INTO mentor_documents_trigram (rowid, head) VALUES (NEW.fts_rowid, NEW.head);
    END
    """,
    f"""
    CREATE TRIGGER mentor_documents_ad AFTER DELETE ON mentor_documents BEGIN
        INSERT INTO mentor_documents_fts (mentor_documents_fts, rowid, {_FTS_COLUMNS})
        VALUES ('delete', OLD.fts_rowid, OLD.head, OLD.notes, OLD.bio, OLD.topics);
        INSERT INTO mentor_documents_trigram (mentor_documents_trigram, rowid, head)
        VALUES ('delete', OLD.fts_rowid, OLD.head);
    END
    """,
    f"""
    CREATE TRIGGER mentor_documents_au AFTER UPDATE ON mentor_documents BEGIN
        INSERT INTO mentor_documents_fts (mentor_documents_fts, rowid, {_FTS_COLUMNS})
        VALUES ('delete', OLD.fts_rowid, OLD.head, OLD.notes, OLD.bio, OLD.topics);
        INSERT INTO mentor_documents_trigram (mentor_documents_trigram, rowid, head)
        VALUES ('delete', OLD.fts_rowid, OLD.head);
        INSERT INTO mentor_documents_fts (rowid, {_FTS_COLUMNS})
        VALUES (NEW.fts_rowid, NEW.head, NEW.notes, NEW.bio, NEW.topics);
        INSERT INTO mentor_documents_trigram (rowid, head) VALUES (NEW.fts_rowid, NEW.head);
    END
    """,
]

SQLITE_DOWNGRADE = [
    "DROP TRIGGER mentor_documents_au",
    "DROP TRIGGER mentor_documents_ad",
    "DROP TRIGGER mentor_documents_ai",
    "DROP TRIGGER sessions_topic_update",
    "DROP TRIGGER sessions_topic_insert",
    "DROP TRIGGER mentors_document_update",
    "DROP TRIGGER mentors_document_insert",
    "DROP TABLE mentor_documents_trigram",
    "DROP TABLE mentor_documents_fts",
]

# The documents of the mentors there already (every app's: a migration runs for all).
PG_FILL = f"""
    INSERT INTO mentor_documents (app_id, mentor_id, head, notes, bio, topics, active, languages,
                                  formats, session_lengths)
    SELECT m.app_id, m.id,
           concat_ws(' ', m.headline,
                     (SELECT string_agg(o -> 'skill' ->> 'name', ' ')
                        FROM json_array_elements(m.offers::json) AS o)),
           coalesce((SELECT string_agg(o ->> 'note', ' ')
                       FROM json_array_elements(m.offers::json) AS o), ''),
           m.bio,
           coalesce(right((SELECT string_agg(s.topic, E'\\n' ORDER BY s.updated_at, s.id)
                             FROM sessions AS s
                            WHERE s.app_id = m.app_id AND s.mentor_id = m.id
                              AND s.status = 'completed'), {TOPICS_KEPT}), ''),
           json_array_length(m.offers::json) > 0 AND jsonb_array_length(m.formats) > 0
           AND jsonb_array_length(m.session_lengths) > 0,
           m.languages, m.formats, m.session_lengths
      FROM mentors AS m
"""
SQLITE_FILL = f"""
    INSERT INTO mentor_documents (app_id, mentor_id, head, notes, bio, topics, active, languages,
                                  formats, session_lengths, fts_rowid)
    SELECT m.app_id, m.id,
           trim(m.headline || ' ' || coalesce((SELECT group_concat(json_extract(o.value,
                '$.skill.name'), ' ') FROM json_each(m.offers) AS o), '')),
           coalesce((SELECT group_concat(json_extract(o.value, '$.note'), ' ')
                       FROM json_each(m.offers) AS o), ''),
           m.bio,
           coalesce(substr((SELECT group_concat(t.topic, char(10)) FROM (
                SELECT s.topic FROM sessions AS s
                 WHERE s.app_id = m.app_id AND s.mentor_id = m.id AND s.status = 'completed'
                 ORDER BY s.updated_at, s.id) AS t), -{TOPICS_KEPT}), ''),
           json_array_length(m.offers) > 0 AND json_array_length(m.formats) > 0
           AND json_array_length(m.session_lengths) > 0,
           m.languages, m.formats, m.session_lengths,
           row_number() OVER (ORDER BY m.app_id, m.id)
      FROM mentors AS m
"""


def upgrade() -> None:
    op.create_table(
        "matching_policies",
        sa.Column("created_at", mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("app_id", sa.String(length=30), nullable=False),
        sa.Column(
            "weights",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_matching_policies_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_matching_policies")),
    )
    op.create_table(
        "match_feedback",
        sa.Column("created_at", mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mentorapi.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("app_id", sa.String(length=30), nullable=False),
        sa.Column("mentee_id", sa.String(length=30), nullable=False),
        sa.Column("mentor_id", sa.String(length=30), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_match_feedback_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["app_id", "mentee_id"],
            ["mentees.app_id", "mentees.id"],
            name=op.f("fk_match_feedback_app_id_mentees"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["app_id", "mentor_id"],
            ["mentors.app_id", "mentors.id"],
            name=op.f("fk_match_feedback_app_id_mentors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("app_id", "mentee_id", "mentor_id", name=op.f("pk_match_feedback")),
    )
    with op.batch_alter_table("match_feedback", schema=None) as batch_op:
        batch_op.create_index(
            "ix_match_feedback_app_id_mentor_id", ["app_id", "mentor_id"], unique=False
        )

    op.create_table(
        "mentor_documents",
        sa.Column("app_id", sa.String(length=30), nullable=False),
        sa.Column("mentor_id", sa.String(length=30), nullable=False),
        sa.Column("head", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("bio", sa.Text(), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column(
            "search", sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"), nullable=True
        ),
        sa.Column("fts_rowid", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "languages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "formats",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "session_lengths",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_mentor_documents_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["app_id", "mentor_id"],
            ["mentors.app_id", "mentors.id"],
            name=op.f("fk_mentor_documents_app_id_mentors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("app_id", "mentor_id", name=op.f("pk_mentor_documents")),
    )
    with op.batch_alter_table("mentor_documents", schema=None) as batch_op:
        batch_op.create_index("ix_mentor_documents_fts_rowid", ["fts_rowid"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_UPGRADE:
            op.execute(statement)
        op.execute(PG_FILL)
    else:
        for statement in SQLITE_UPGRADE:
            op.execute(statement)
        op.execute(SQLITE_FILL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_DOWNGRADE:
            op.execute(statement)
        # pg_trgm stays: another schema object may use it, and it costs nothing.
    else:
        for statement in SQLITE_DOWNGRADE:
            op.execute(statement)
    with op.batch_alter_table("mentor_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_mentor_documents_fts_rowid")
    op.drop_table("mentor_documents")
    with op.batch_alter_table("match_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_match_feedback_app_id_mentor_id")
    op.drop_table("match_feedback")
    op.drop_table("matching_policies")
