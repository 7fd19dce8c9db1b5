"""What a caller without credentials can make the database do is an index probe, never a read
of every tenant's rows.

A CORS preflight carries no credentials, so apps/cors.py asks whether ANY app allows its
Origin (`cors_origins @> '["<origin>"]'`), and anyone may send preflights, each with a new
Origin, without limit. Without an index on `apps.cors_origins` that read every app for each
one (60 ms a request over 100,000 apps): now a GIN index answers it (PostgreSQL; SQLite's
json_each uses no index, one process and few apps).
"""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text

from mentorapi.db.engine import Database


@pytest.mark.postgres_only
async def test_a_preflights_origin_lookup_is_an_index_probe(
    app: FastAPI, anon: httpx.AsyncClient
) -> None:
    database: Database = app.state.db
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "cors_origins" in statement:
            statements.append((statement, parameters))

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        headers = {
            "Origin": "https://nobody-lists-this.example.com",
            "Access-Control-Request-Method": "POST",
        }
        response = await anon.options("/v1/mentors", headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert response.status_code == 403, response.text
    [(statement, parameters)] = statements
    # Whatever the table's size (a test database holds few apps), the plan may use the index.
    async with database.engine.connect() as connection:
        await connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        lines = [row[0] for row in plan]
    assert any("ix_apps_cors_origins" in line for line in lines), lines
