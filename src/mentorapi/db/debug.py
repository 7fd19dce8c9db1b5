"""`X-SQL-Statements`: how many SQL statements a request ran (MENTORAPI_DEBUG_SQL_COUNT=true).

Lets a benchmark check a running server's query counts from outside (an N+1 shows up as a
count that grows with the page size). Off by default: it is a diagnostic, not an API.
"""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentorapi.db.engine import statement_counter

HEADER = "X-SQL-Statements"


class SqlStatementCount:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        statements: list[str] = []
        token = statement_counter.set(statements)

        async def send_with_count(message: Message) -> None:
            # The request's transaction commits before the response starts (DbSession), so the
            # count is complete here.
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(HEADER, str(len(statements)))
            await send(message)

        try:
            await self.app(scope, receive, send_with_count)
        finally:
            statement_counter.reset(token)
