"""The retrieval of a recommendation (`repository.candidates`): the hard filters are checked on
the found mentors in order of relevance until enough pass, and `excluded_count` counts those
examined and left out, not every found one."""

from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentorapi.db.engine import Database
from mentorapi.matching import repository
from mentorapi.matching.repository import Filters
from tests.conftest import Tenant
from tests.factories import create_mentee, create_mentor, create_skill


async def test_only_the_examined_are_counted_as_excluded(db: Database, tenant: Tenant) -> None:
    client = tenant.client
    skill = await create_skill(client, name="Spreadsheets")
    # Identical documents rank equal, and equal ranks go by id: the order of creation.
    languages = [["en"], ["de"], ["en"], ["de"], ["de"], ["en"]]
    made = [
        await create_mentor(
            client,
            headline="Pivot tables for sales reports",
            languages=spoken,
            skills=[{"skill_id": skill["id"], "level": 4}],
        )
        for spoken in languages
    ]
    mentee = await create_mentee(client)
    filters = Filters(
        mentee_id=mentee["id"], skills=[], languages=["en"], format=None, duration_minutes=None
    )
    english = [m["id"] for m, spoken in zip(made, languages, strict=True) if spoken == ["en"]]
    async with db.sessionmaker() as s:
        found, excluded = await repository.candidates(s, tenant.id, "pivot tables", filters, 2)
        # Examined: en, de, en. The two German mentors ranked after the second kept are not.
        assert [mentor_id for mentor_id, _ in found] == english[:2]
        assert excluded == 1
        found, excluded = await repository.candidates(s, tenant.id, "pivot tables", filters, 20)
        # Fewer kept than asked for: every found mentor was examined.
        assert [mentor_id for mentor_id, _ in found] == english
        assert excluded == 3


# Words the population's headlines and bios are written from, and asks drawn from them (with a
# misspelling, for the trigram path of short asks).
WORDS = ["pivot", "tables", "budget", "pitch", "sales", "hiring", "roadmap", "privot"]
_populations: dict[str, tuple[str, str]] = {}


async def _population(tenant: Tenant) -> tuple[str, str]:
    """A mentee and 24 mentors of one app, made once (Hypothesis runs the body many times with
    one fixture value): headlines and bios of 1-3 words each, so many rank equal and many
    match an ask; German, English, both or no language; some inactive (no skill), some
    dismissed by the mentee."""
    if tenant.id in _populations:
        return _populations[tenant.id]
    client = tenant.client
    skill = await create_skill(client, name="Spreadsheets")
    mentee = await create_mentee(client)
    spoken = [["en"], ["de"], ["en", "de"], []]
    for n in range(24):
        headline = " ".join(WORDS[(n * k) % 7] for k in range(1, 2 + n % 3))
        made = await create_mentor(
            client,
            headline=headline,
            bio=f"I help with {WORDS[(n * 5) % 7]} and {WORDS[(n + 3) % 7]}.",
            languages=spoken[n % 4],
            skills=[] if n % 7 == 3 else [{"skill_id": skill["id"], "level": 1 + n % 5}],
        )
        if n % 5 == 2:
            response = await client.post(
                "/v1/matching/feedback",
                json={"mentee_id": mentee["id"], "mentor_id": made["id"], "action": "dismiss"},
            )
            assert response.status_code == 200, response.text
    _populations[tenant.id] = (mentee["id"], skill["id"])
    return _populations[tenant.id]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=5),
    languages=st.sampled_from([[], ["en"], ["de"], ["fr"]]),
    limit=st.integers(1, 8),
    window=st.integers(1, 12),
    level=st.none() | st.integers(1, 5),
)
async def test_a_window_keeps_what_ranking_every_found_mentor_keeps(
    db: Database,
    tenant: Tenant,
    words: list[str],
    languages: list[str],
    limit: int,
    window: int,
    level: int | None,
) -> None:
    """Examining the best `window` found mentors first (PostgreSQL) never drops a candidate
    that ordering every found mentor would keep, nor changes their order, their ranks or the
    count of the examined and excluded: on a small instance with many ties, windows of every
    size against the statement without one."""
    mentee_id, skill_id = await _population(tenant)
    filters = Filters(
        mentee_id=mentee_id,
        skills=[] if level is None else [(skill_id, level)],
        languages=languages,
        format=None,
        duration_minutes=None,
    )
    ask = " ".join(words)
    async with db.sessionmaker() as s:
        with patch.object(repository, "_windows", lambda _dialect, _limit: [None]):
            expected = await repository.candidates(s, tenant.id, ask, filters, limit)
        with patch.object(repository, "_windows", lambda _dialect, _limit: [window, None]):
            found = await repository.candidates(s, tenant.id, ask, filters, limit)
    assert found == expected
