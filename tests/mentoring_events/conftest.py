"""Speed-mentoring test helpers: one clock the tests move (the events' rules and their live
feed both read it: nothing here waits for a round to end), and an event built through the API
as a client app would."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mentorapi.mentoring_events import clock as event_clock
from mentorapi.reminders import service as reminders_service
from mentorapi.sessions import service as sessions_service
from tests.conftest import Tenant
from tests.factories import create_mentee, create_mentor, create_skill, unique

START = "2031-03-04T17:00:00Z"  # a Tuesday, 18:00 in Berlin


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ManualClock(event_clock.Clock):
    """The events' clock, moved by the test; a live feed asleep until a time wakes when the
    clock reaches it."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._moved: asyncio.Event | None = None

    def now(self) -> datetime:
        return self._now

    def __call__(self) -> datetime:
        return self._now

    def set(self, value: str | datetime) -> None:
        self._now = at(value) if isinstance(value, str) else value
        moved, self._moved = self._moved, None
        if moved is not None:
            moved.set()

    def advance(self, **delta: float) -> None:
        self.set(self._now + timedelta(**delta))

    async def sleep_until(self, instant: datetime) -> None:
        while self._now < instant:
            if self._moved is None:
                self._moved = asyncio.Event()
            await self._moved.wait()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    found = ManualClock(at("2031-03-01T09:00:00Z"))
    monkeypatch.setattr(event_clock, "current", found)
    monkeypatch.setattr(sessions_service, "now", found)
    monkeypatch.setattr(reminders_service, "now", found)
    return found


async def post(client: httpx.AsyncClient, path: str, body: Any = None, status: int = 200) -> Any:
    response = await client.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def event_body(**fields: Any) -> dict[str, Any]:
    return {
        "title": "Spreadsheet speed mentoring",
        "starts_at": START,
        "timezone": "Europe/Berlin",
        "rounds": 4,
        "round_minutes": 7,
        "transition_minutes": 2,
        "table_capacity": 2,
        "meetings_per_mentee": 3,
        "mode": "relevance",
        "registration_closes_at": "2031-03-04T12:00:00Z",
        **fields,
    }


async def create_event(client: httpx.AsyncClient, *, open_: bool = True, **fields: Any) -> Any:
    event = await post(client, "/v1/mentoring-events", event_body(**fields), 201)
    if open_:
        event = await post(client, f"/v1/mentoring-events/{event['id']}/open")
    return event


@dataclass
class People:
    skill: dict[str, Any]
    mentors: list[dict[str, Any]] = field(default_factory=list)
    mentees: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mentor_ids(self) -> list[str]:
        return [m["id"] for m in self.mentors]

    @property
    def mentee_ids(self) -> list[str]:
        return [m["id"] for m in self.mentees]


async def people(client: httpx.AsyncClient, mentors: int, mentees: int) -> People:
    skill = await create_skill(client, slug=unique("pivots"), name="Pivot tables")
    found = People(skill)
    for i in range(mentors):
        found.mentors.append(
            await create_mentor(
                client,
                name=f"Mentor {i + 1}",
                skills=[{"skill_id": skill["id"], "level": 3 + i % 3}],
            )
        )
    for i in range(mentees):
        found.mentees.append(
            await create_mentee(
                client, name=f"Mentee {i + 1}", seeking=[{"skill_id": skill["id"], "level": 1}]
            )
        )
    return found


async def register_all(
    client: httpx.AsyncClient, event_id: str, crowd: People, **wishes: dict[str, Any]
) -> None:
    """Mentors first (a mentee's wishes name registered mentors); `wishes` by member id."""
    for mentor_id in crowd.mentor_ids:
        body = {"mentor_id": mentor_id, **wishes.get(mentor_id, {})}
        await post(client, f"/v1/mentoring-events/{event_id}/registrations", body, 201)
    for i, mentee_id in enumerate(crowd.mentee_ids):
        body = {
            "mentee_id": mentee_id,
            "ask": f"How do I build pivot table number {i + 1} without breaking it?",
            **wishes.get(mentee_id, {}),
        }
        await post(client, f"/v1/mentoring-events/{event_id}/registrations", body, 201)


@dataclass
class Ready:
    event: dict[str, Any]
    crowd: People
    schedule: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.event["id"])


async def published_event(
    tenant: Tenant,
    mentors: int = 3,
    mentees: int = 6,
    *,
    publish: bool = True,
    built: int = 200,
    **fields: Any,
) -> Ready:
    """An event with its people registered and a schedule built (`built`: 202 when a job
    builds it), and published unless told otherwise."""
    crowd = await people(tenant.client, mentors, mentees)
    event = await create_event(tenant.client, **fields)
    await register_all(tenant.client, event["id"], crowd)
    schedule = await post(
        tenant.client, f"/v1/mentoring-events/{event['id']}/schedule", None, built
    )
    if publish:
        schedule = await post(tenant.client, f"/v1/mentoring-events/{event['id']}/schedule/publish")
    return Ready(event, crowd, schedule)


def check_rules(
    assignments: list[dict[str, Any]],
    *,
    rounds: int,
    capacity: int,
    per_mentee: int,
    no_thanks: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
) -> None:
    """Every rule of a schedule, on what the API returns."""
    pairs = [(a["mentee_id"], a["mentor_id"]) for a in assignments]
    assert len(pairs) == len(set(pairs)), "a pair meets twice"
    by_round_mentee = [(a["round"], a["mentee_id"]) for a in assignments]
    assert len(by_round_mentee) == len(set(by_round_mentee)), "a mentee in two places"
    tables: dict[tuple[int, int], set[str]] = {}
    seats: dict[tuple[int, str], set[int]] = {}
    for a in assignments:
        assert 1 <= a["round"] <= rounds
        tables.setdefault((a["round"], a["table"]), set()).add(a["mentor_id"])
        seats.setdefault((a["round"], a["mentor_id"]), set()).add(a["table"])
    assert all(len(m) == 1 for m in tables.values()), "two mentors at one table"
    assert all(len(t) == 1 for t in seats.values()), "a mentor at two tables in one round"
    for (number, table), _ in tables.items():
        seated = [a for a in assignments if a["round"] == number and a["table"] == table]
        assert len(seated) <= capacity, "a table over capacity"
    per = {}
    for mentee, _ in pairs:
        per[mentee] = per.get(mentee, 0) + 1
    assert all(n <= per_mentee for n in per.values()), "a mentee over their meetings"
    assert not (set(pairs) & set(no_thanks)), "a no-thanks pair meets"
