"""Rows named by (app_id, id) pairs, found by index whatever the size of the table.

A batch that mixes apps (the reminders worker's) reads and locks its rows by the pairs it
holds. Written as a list of row values, `(app_id, id) IN ((…), (…), …)`, PostgreSQL read them
with a cost that grew with the table (measured: a 500-row lookup in the event log went from
75 ms to 350 ms as it grew from 10,000 to 30,000 events); as two IN lists it may take the
app_id index and filter every row of a big app. Joined to `unnest` of two arrays, it probes
the index on (app_id, id) or on id once per pair: flat, with the keys as they are and as they
will be ((app_id, id) primary keys). SQLite takes the row values as they are.
"""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY


def pairs_in(
    dialect: str, app_column: Any, id_column: Any, pairs: Iterable[tuple[str, str]]
) -> ColumnElement[bool]:
    found = sorted(set(pairs))
    if dialect != "postgresql":
        return tuple_(app_column, id_column).in_(found)
    keys = (
        func.unnest(
            bindparam(None, [a for a, _ in found], type_=ARRAY(String())),
            bindparam(None, [i for _, i in found], type_=ARRAY(String())),
        )
        .table_valued("app_id", "id")
        .render_derived(name="pairs")
    )
    return tuple_(app_column, id_column).in_(select(keys.c.app_id, keys.c.id))
