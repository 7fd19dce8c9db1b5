"""A ceiling, not mentorapi: the SQL statements of a booking (as `bench.sessions_profile`
prints them at this commit: idempotency claim, endpoints, reminder policy, mentor and mentee
locked, the booking facts, the five INSERTs, the reminders' six rows in one of them) sent by
a bare asyncpg handler behind a minimal asyncio HTTP/1.1 server (two processes, a pool of 20
each), with no framework, no ORM, no validation and no rule checked in Python. Whatever this
machine books per second with it, under the same 100 clients, is the most mentorapi could
book here. Copies of the SQL live here only.

    python -m bench.ceiling --database-url postgresql://... --app-id app_... --port 8123
"""

import argparse
import asyncio
import json
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

CLAIM_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended($1::VARCHAR, $2::INTEGER))"
CLAIM_READ = (
    "SELECT fingerprint, created_at, expires_at, status_code, headers, body FROM idempotency_keys"
    " WHERE app_id = $1::VARCHAR AND key = $2::VARCHAR"
)
ENDPOINTS = (
    "SELECT created_at, updated_at, app_id, id, url, events, description, enabled, secret,"
    " previous_secret, previous_secret_expires_at, version, failing_since, disabled_reason"
    " FROM webhook_endpoints WHERE app_id = $1::VARCHAR AND enabled IS true FOR KEY SHARE"
)
POLICY = (
    "SELECT $1::VARCHAR AS mentor_id, offsets_minutes, feedback_request_delay_minutes"
    " FROM reminder_policies WHERE app_id = $2::VARCHAR UNION ALL"
    " SELECT mentor_id, offsets_minutes, $3::INTEGER FROM mentor_reminder_policies"
    " WHERE app_id = $2::VARCHAR AND mentor_id IN ($4::VARCHAR)"
)
LOCK = (
    "SELECT mentors.* FROM mentors JOIN mentees ON mentees.app_id = mentors.app_id"
    " AND mentees.id = $1::VARCHAR WHERE mentors.app_id = $2::VARCHAR AND mentors.id = $3::VARCHAR"
    " FOR UPDATE"
)
FACTS = """SELECT mentors.timezone, mentors.session_lengths, availabilities.weekly,
 availabilities.overrides, availabilities.buffer_before_minutes,
 availabilities.buffer_after_minutes, availabilities.min_notice_minutes,
 availabilities.booking_horizon_days, availabilities.weekly_capacity,
 availabilities.daily_limit_sessions, availabilities.daily_limit_minutes,
 availabilities.auto_accept,
 (SELECT string_agg(a.record, ''::bytea) FROM (
   SELECT (CASE WHEN (sessions.status IN ('requested', 'booked')) THEN '\\x01'::bytea
     ELSE '\\x00'::bytea END || timestamptz_send(sessions.starts_at))
     || coalesce(timestamptz_send(sessions.ends_at), '\\x8000000000000000'::bytea) AS record
   FROM sessions WHERE sessions.app_id = $1::VARCHAR AND sessions.mentor_id = $2::VARCHAR
     AND sessions.status IN ('requested', 'booked', 'completed', 'no_show')
     AND sessions.starts_at >= $3::TIMESTAMPTZ AND sessions.starts_at < $4::TIMESTAMPTZ
     AND (sessions.status != 'requested' OR sessions.expires_at IS NULL
          OR sessions.expires_at > $5::TIMESTAMPTZ)
   UNION ALL
   SELECT (CASE WHEN (group_sessions.status = 'scheduled') THEN '\\x01'::bytea
     ELSE '\\x00'::bytea END || timestamptz_send(group_sessions.starts_at))
     || coalesce(timestamptz_send(group_sessions.ends_at), '\\x8000000000000000'::bytea)
   FROM group_sessions WHERE group_sessions.app_id = $1::VARCHAR
     AND group_sessions.mentor_id = $2::VARCHAR
     AND group_sessions.status IN ('scheduled', 'completed')
     AND group_sessions.starts_at >= $3::TIMESTAMPTZ AND group_sessions.starts_at < $4::TIMESTAMPTZ
 ) AS a) AS held,
 EXISTS (SELECT * FROM mentor_skills WHERE mentor_skills.app_id = $1::VARCHAR
   AND mentor_skills.mentor_id = $2::VARCHAR
   AND mentor_skills.skill_id = $6::VARCHAR) AS offers_skill,
 (SELECT json_agg(json_build_array(b.mentee_id, b.group_session_id, b.starts_at, b.ends_at)) FROM (
   SELECT seats.mentee_id, CAST(seats.group_session_id AS VARCHAR) AS group_session_id,
     seats.starts_at, seats.ends_at FROM seats WHERE seats.app_id = $1::VARCHAR
     AND seats.mentee_id IN ($7::VARCHAR) AND seats.status = $8::VARCHAR
     AND seats.starts_at < $9::TIMESTAMPTZ AND seats.ends_at > $10::TIMESTAMPTZ
   UNION ALL
   SELECT sessions.mentee_id, CAST(NULL AS VARCHAR), sessions.starts_at, sessions.ends_at
   FROM sessions WHERE sessions.app_id = $1::VARCHAR AND sessions.mentee_id IN ($7::VARCHAR)
     AND sessions.status IN ('requested', 'booked') AND sessions.starts_at < $9::TIMESTAMPTZ
     AND sessions.ends_at > $10::TIMESTAMPTZ AND (sessions.status != 'requested'
     OR sessions.expires_at IS NULL OR sessions.expires_at > $5::TIMESTAMPTZ)) AS b) AS places
FROM mentors LEFT OUTER JOIN availabilities ON availabilities.app_id = mentors.app_id
 AND availabilities.mentor_id = mentors.id
WHERE mentors.app_id = $1::VARCHAR AND mentors.id = $2::VARCHAR"""
INSERT_SESSION = (
    "INSERT INTO sessions (created_at, updated_at, app_id, id, mentor_id, mentee_id, status,"
    " topic, questions, skill_id, format, duration_minutes, starts_at, ends_at, expires_at,"
    " series_id, rescheduled_from, history, cancelled_by, cancel_reason, decline_reason,"
    " completion_note, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::JSONB, $10, $11,"
    " $12, $13, $14, $15, $16, $17, $18::JSONB, $19, $20, $21, $22, $23)"
)
INSERT_EVENT = (
    "INSERT INTO events (created_at, updated_at, app_id, id, type, object_id, sequence, data)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::JSONB)"
)
INSERT_DELIVERY = (
    "INSERT INTO deliveries (created_at, updated_at, app_id, id, event_id, endpoint_id, status,"
    " attempts, next_attempt_at, last_status_code, last_error)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)
# The rows mentorapi plans for a booked session with the default policy: a reminder 1440 and
# 60 minutes before (those still to come), its start, its end, and a feedback request of
# each party 10 minutes after the end: about six rows, in one statement as mentorapi sends
# them (db/rows.py). (Until 2026-12-06 this wrote one row, a sixth of mentorapi's.)
INSERT_REMINDERS = (
    "INSERT INTO scheduled_notifications (created_at, updated_at, app_id, key, kind, due_at,"
    " session_id, party, minutes_before) SELECT * FROM unnest($1::TIMESTAMPTZ[],"
    " $2::TIMESTAMPTZ[], $3::VARCHAR[], $4::VARCHAR[], $5::VARCHAR[], $6::TIMESTAMPTZ[],"
    " $7::VARCHAR[], $8::VARCHAR[], $9::INTEGER[])"
)
OFFSETS_MINUTES = (1440, 60)
FEEDBACK_DELAY = timedelta(minutes=10)


def _reminders(session_id: str, start: datetime, end: datetime, now: datetime) -> list[list[Any]]:
    """The columns of INSERT_REMINDERS after the three shared ones (created_at, updated_at,
    app_id), one list per column: key, kind, due_at, session_id, party, minutes_before."""
    rows: list[tuple[str, str, datetime, str | None, int | None]] = [
        (f"{session_id}/reminder/{m}", "reminder", start - timedelta(minutes=m), None, m)
        for m in OFFSETS_MINUTES
        if start - timedelta(minutes=m) > now
    ]
    rows += [
        (f"{session_id}/started", "started", start, None, None),
        (f"{session_id}/ended", "ended", end, None, None),
    ]
    rows += [
        (
            f"{session_id}/feedback_requested/{p}",
            "feedback_requested",
            end + FEEDBACK_DELAY,
            p,
            None,
        )
        for p in ("mentor", "mentee")
    ]
    keys, kinds, dues, parties, minutes = (list(c) for c in zip(*rows, strict=True))
    return [keys, kinds, dues, [session_id] * len(rows), parties, minutes]


INSERT_KEY = (
    "INSERT INTO idempotency_keys (app_id, key, fingerprint, created_at, expires_at,"
    " status_code, headers, body) VALUES ($1, $2, $3, $4, $5, $6, $7::JSONB, $8)"
)


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:26].upper()}"


async def book(pool: asyncpg.Pool, app_id: str, key: str, raw: bytes) -> tuple[int, bytes]:
    body = json.loads(raw)
    mentor, mentee = body["mentor_id"], body["mentee_id"]
    start = datetime.fromisoformat(body["starts_at"]).astimezone(UTC)
    end = start + timedelta(minutes=body["duration_minutes"])
    now = datetime.now(UTC)
    async with pool.acquire() as c, c.transaction():
        if not await c.fetchval(CLAIM_LOCK, f"{app_id} {key}", 0):
            return 409, b'{"title":"Conflict"}'
        if await c.fetch(CLAIM_READ, app_id, key):
            return 409, b'{"title":"Conflict"}'
        endpoints = await c.fetch(ENDPOINTS, app_id)
        await c.fetch(POLICY, None, app_id, None, mentor)
        if await c.fetchrow(LOCK, mentee, app_id, mentor) is None:
            return 404, b'{"title":"Not found"}'
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        await c.fetchrow(
            FACTS,
            app_id,
            mentor,
            day - timedelta(days=7),
            day + timedelta(days=8),
            now,
            body["skill_id"],
            mentee,
            "taken",
            end,
            start,
        )
        session_id = _id("ses")
        session = {
            "id": session_id,
            "mentor_id": mentor,
            "mentee_id": mentee,
            "status": "booked",
            "topic": body["topic"],
            "questions": body["questions"],
            "skill_id": body["skill_id"],
            "format": body["format"],
            "duration_minutes": body["duration_minutes"],
            "starts_at": start.isoformat(),
            "ends_at": end.isoformat(),
            "version": 1,
        }
        try:
            await c.execute(
                INSERT_SESSION,
                now,
                now,
                app_id,
                session_id,
                mentor,
                mentee,
                "booked",
                body["topic"],
                json.dumps(body["questions"]),
                body["skill_id"],
                body["format"],
                body["duration_minutes"],
                start,
                end,
                None,
                None,
                None,
                "[]",
                None,
                None,
                None,
                None,
                1,
            )
        except asyncpg.ExclusionViolationError:
            return 409, b'{"title":"Conflict"}'
        event_id = _id("evt")
        await c.execute(
            INSERT_EVENT,
            now,
            now,
            app_id,
            event_id,
            "session.booked",
            session_id,
            1,
            json.dumps(session),
        )
        for endpoint in endpoints:
            await c.execute(
                INSERT_DELIVERY,
                now,
                now,
                app_id,
                _id("dlv"),
                event_id,
                endpoint["id"],
                "pending",
                0,
                now,
                None,
                None,
            )
        columns = _reminders(session_id, start, end, now)
        count = len(columns[0])
        await c.execute(INSERT_REMINDERS, [now] * count, [now] * count, [app_id] * count, *columns)
        out = json.dumps(session).encode()
        await c.execute(
            INSERT_KEY,
            app_id,
            key,
            "f" * 64,
            now,
            now + timedelta(days=1),
            201,
            '[["content-type","application/json"]]',
            out.decode(),
        )
    return 201, out


# A request's answer from its headers (lower-cased names) and body: (status, JSON bytes).
Handler = Callable[[dict[str, str], bytes], Awaitable[tuple[int, bytes]]]


async def serve(sock: socket.socket, dsn: str, handler: Callable[[asyncpg.Pool], Handler]) -> None:
    """HTTP/1.1 keep-alive on `sock`, each request answered by `handler(pool)`."""
    pool = await asyncpg.create_pool(dsn, min_size=5, max_size=20)
    answer = handler(pool)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                status, out = await answer(headers, raw)
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(out)}\r\n\r\n".encode()
                    + out
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        await server.serve_forever()


def start(description: str, handler: Callable[[str], Callable[[asyncpg.Pool], Handler]]) -> None:
    """The command line of a ceiling: `handler(app_id)(pool)` answers its requests, in
    `--processes` processes sharing one listening socket."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    dsn = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(1024)
    sock.setblocking(False)
    for _ in range(args.processes - 1):
        if os.fork() == 0:
            break
    asyncio.run(serve(sock, dsn, handler(args.app_id)))


def _bookings(app_id: str) -> Callable[[asyncpg.Pool], Handler]:
    def bound(pool: asyncpg.Pool) -> Handler:
        async def answer(headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
            return await book(pool, app_id, headers.get("idempotency-key", ""), raw)

        return answer

    return bound


def main() -> None:
    start(__doc__.split("\n\n")[0], _bookings)


if __name__ == "__main__":
    main()
