"""The unit of work: one session per request, committed once at the end, rolled back on error."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db.engine import Database, write_intent

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    write_intent.set(request.method not in READ_METHODS)
    async with get_database(request).sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": the commit runs before the response is sent, so a failed commit is an error
# response, never a 2xx for a change that did not happen.
DbSession = Annotated[AsyncSession, Depends(_session, scope="function")]
