"""A recommendation makes the components and reasons of the mentors it returns only, and they
are, byte for byte, what making them for every scored candidate (`Scorer.score`, the rule of
cohorts and events) answers: the same order, the same reasons, for every limit."""

from dataclasses import dataclass
from typing import Any

import pytest

from mentorapi.matching import scoring
from mentorapi.matching.repository import MentorFacts
from mentorapi.matching.scoring import Ask, PairFacts, PairScore, Scorer
from tests.conftest import Tenant
from tests.factories import create_mentee, create_mentor, create_skill, set_availability
from tests.matching.conftest import WEEK, complete_with_feedback
from tests.reminders.conftest import Clock

ASK = "I need to build a pivot table for Friday's sales report"
BIOS = (
    "Pivot tables for sales reports every Friday",
    "Spreadsheets daily",
    "Sales reports and dashboards",
    "Excel, pivot tables, charts",
)
ZONES = ("Europe/Paris", "Asia/Tokyo", "America/New_York", "Europe/Berlin", "Europe/London")
LANGUAGES = (["en"], ["de", "en"], ["fr", "en"], ["de"])


@dataclass(frozen=True)
class EagerEvaluation:
    """The evaluation of a recommendation as it was: its PairScore made with it."""

    score: PairScore
    free_starts: tuple[int, ...]
    duration_minutes: int
    capacity_full: bool

    @property
    def value(self) -> float:
        return self.score.score


def eager_evaluate(made: list[PairScore]) -> Any:
    """`Scorer.evaluate` as it was: the PairScore (components, reasons) of every candidate
    made while scoring, by `Scorer.score`."""

    def evaluate(self: Scorer, ask: Ask, mentor: MentorFacts, pair: PairFacts) -> Any:
        found = self.score(ask, mentor, pair)
        if found is None:
            return None
        score, base = found
        made.append(score)
        time = base.time
        return EagerEvaluation(
            score,
            free_starts=time.starts,
            duration_minutes=time.duration_minutes,
            capacity_full=time.capacity is not None and time.week_count >= time.capacity,
        )

    return evaluate


async def test_reasons_are_made_for_the_answered_only_and_are_the_eager_ones(
    tenant: Tenant, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = tenant.client
    pivots = await create_skill(client, name="Pivot tables")
    charts = await create_skill(client, name="Charts")
    mentors = []
    for i in range(24):  # more than the 20 candidates of a limit up to 5
        skills = [{"skill_id": pivots["id"], "level": 1 + i % 5}]
        if i % 3 == 0:
            skills.append({"skill_id": charts["id"], "level": 1 + (i * 7) % 5})
        found = await create_mentor(
            client,
            headline=f"Excel analyst {i}",
            bio=BIOS[i % len(BIOS)],
            timezone=ZONES[i % len(ZONES)],
            languages=LANGUAGES[i % len(LANGUAGES)],
            skills=skills,
        )
        await set_availability(
            client, found["id"], **({"weekly_capacity": 3 + i % 4} if i % 2 else {})
        )
        mentors.append(found)
    mentee = await create_mentee(client, timezone="Europe/Berlin", languages=["en", "de"])
    for i in (2, 5, 11):
        response = await client.post(
            "/v1/matching/feedback",
            json={"mentee_id": mentee["id"], "mentor_id": mentors[i]["id"], "action": "bookmark"},
        )
        assert response.status_code == 200, response.text
    await complete_with_feedback(
        client,
        clock,
        mentor_id=mentors[3]["id"],
        mentee_id=mentee["id"],
        skill_id=pivots["id"],
        starts_at="2027-01-05T09:00:00Z",
        rating=4,
        impact="Built the report on my own",
    )
    clock.set("2027-01-06T08:00:00Z")
    asks: list[dict[str, Any]] = [
        {"ask": ASK},
        {"ask": ASK, "window": WEEK, "duration_minutes": 30},
        {"ask": ASK, "skills": [{"skill_id": pivots["id"], "min_level": 2}]},
        {
            "ask": "pivot tables and charts",
            "skills": [
                {"skill_id": pivots["id"], "min_level": 1},
                {"skill_id": charts["id"], "min_level": 1},
            ],
            "languages": ["de", "en"],
        },
    ]
    lazy_made: list[PairScore] = []

    class Counted(PairScore):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            lazy_made.append(self)

    original = Scorer.evaluate
    shown = 0
    for ask in asks:
        for limit in range(1, 21):
            body = {"mentee_id": mentee["id"], "limit": limit, **ask}
            lazy_made.clear()
            with monkeypatch.context() as patch:
                patch.setattr(scoring, "PairScore", Counted)
                lazy = await client.post("/v1/matching/recommendations", json=body)
            assert lazy.status_code == 200, lazy.text
            data = lazy.json()["data"]
            # Made for the answered mentors only, once each.
            assert len(lazy_made) == len(data), (ask, limit)
            eager_made: list[PairScore] = []
            with monkeypatch.context() as patch:
                patch.setattr(Scorer, "evaluate", eager_evaluate(eager_made))
                eager = await client.post("/v1/matching/recommendations", json=body)
            assert Scorer.evaluate is original
            assert eager.status_code == 200, eager.text
            assert lazy.content == eager.content, (ask, limit)
            if limit < len(eager_made):  # the eager way made more than it showed
                assert len(data) == limit
            shown += sum(len(item["reasons"]) for item in data)
            assert data
            assert all(item["reasons"] for item in data)
    # The reasons compared are many and of several kinds (bookmarks, a past, languages).
    assert shown > 500
