"""The retrieval of a recommendation (`repository.candidates`): the hard filters are checked on
the found mentors in order of relevance until enough pass, and `excluded_count` counts those
examined and left out, not every found one."""

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
