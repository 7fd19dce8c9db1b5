"""score_pairs: every (mentee, mentor) pair scored in a fixed number of statements, with the
pairs excluded by the time-independent hard filters absent."""

from mentorapi.db.engine import Database
from mentorapi.matching.scoring import COMPONENTS, score_pairs
from tests.conftest import Tenant, count_statements
from tests.factories import create_mentee, create_mentor, create_skill, set_availability


async def _population(tenant: Tenant, mentors: int) -> tuple[list[str], list[str], str]:
    client = tenant.client
    pivots = await create_skill(client, name="Pivot tables")
    sql = await create_skill(client, name="SQL joins")
    ids = []
    for i in range(mentors):
        skill = pivots if i % 2 == 0 else sql
        mentor = await create_mentor(
            client,
            headline=f"Analyst number {i}",
            skills=[{"skill_id": skill["id"], "level": 3 + i % 3}],
        )
        await set_availability(client, mentor["id"])
        ids.append(mentor["id"])
    mentees = [
        (await create_mentee(client, seeking=[{"skill_id": pivots["id"], "level": 2}]))["id"],
        (await create_mentee(client, seeking=[{"skill_id": sql["id"], "level": 1}]))["id"],
    ]
    return mentees, ids, pivots["id"]


async def test_every_pair_is_scored_with_the_components(db: Database, tenant: Tenant) -> None:
    mentees, mentors, _ = await _population(tenant, 4)
    async with db.sessionmaker() as s:
        found = await score_pairs(s, app_id=tenant.id, mentee_ids=mentees, mentor_ids=mentors)
    assert set(found) == {(a, b) for a in mentees for b in mentors}
    for pair in found.values():
        assert set(pair.components) == set(COMPONENTS)
        assert 0 <= pair.score <= 1
    # The mentee seeking pivot tables fits the pivot mentors (even indexes) better.
    first = mentees[0]
    assert found[(first, mentors[0])].score > found[(first, mentors[1])].score
    assert found[(first, mentors[0])].components["skill"] > 0
    assert found[(first, mentors[1])].components["skill"] == 0


async def test_statements_do_not_grow_with_the_mentors(db: Database, tenant: Tenant) -> None:
    mentees, mentors, _ = await _population(tenant, 6)
    counts = []
    for size in (2, 6):
        async with db.sessionmaker() as s:
            with count_statements() as statements:
                await score_pairs(
                    s, app_id=tenant.id, mentee_ids=mentees, mentor_ids=mentors[:size]
                )
        counts.append(len(statements))
    assert counts[0] == counts[1]
    assert counts[1] <= 10


async def test_the_ask_text_finds_the_mentor_who_teaches_it(db: Database, tenant: Tenant) -> None:
    mentees, mentors, _ = await _population(tenant, 4)
    async with db.sessionmaker() as s:
        found = await score_pairs(
            s,
            app_id=tenant.id,
            mentee_ids=mentees[:1],
            mentor_ids=mentors,
            asks={mentees[0]: "how do I write SQL joins"},
        )
    texts = {m: found[(mentees[0], m)].components["text"] for m in mentors}
    assert texts[mentors[1]] > 0
    assert texts[mentors[3]] > 0
    assert texts[mentors[0]] == 0
    assert texts[mentors[2]] == 0


async def test_a_misspelled_short_ask_is_found_through_trigrams(
    db: Database, tenant: Tenant
) -> None:
    mentees, mentors, _ = await _population(tenant, 4)
    async with db.sessionmaker() as s:
        found = await score_pairs(
            s,
            app_id=tenant.id,
            mentee_ids=mentees[:1],
            mentor_ids=mentors,
            asks={mentees[0]: "pivto tabels"},
        )
    texts = {m: found[(mentees[0], m)].components["text"] for m in mentors}
    # The stemmed words match nothing; the trigrams of the headline and skill names do.
    assert min(texts[mentors[0]], texts[mentors[2]]) > max(texts[mentors[1]], texts[mentors[3]])


async def test_time_independent_hard_filters_leave_pairs_out(db: Database, tenant: Tenant) -> None:
    client = tenant.client
    skill = await create_skill(client, name="Pivot tables")
    kept = await create_mentor(client, skills=[{"skill_id": skill["id"], "level": 4}])
    dismissed = await create_mentor(client, skills=[{"skill_id": skill["id"], "level": 4}])
    german = await create_mentor(
        client, languages=["de"], skills=[{"skill_id": skill["id"], "level": 4}]
    )
    inactive = await create_mentor(client)  # no skill offered
    mentee = await create_mentee(client, seeking=[{"skill_id": skill["id"], "level": 2}])
    response = await client.post(
        "/v1/matching/feedback",
        json={"mentee_id": mentee["id"], "mentor_id": dismissed["id"], "action": "dismiss"},
    )
    assert response.status_code == 200
    unknown = "mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S"
    mentors = [kept["id"], dismissed["id"], german["id"], inactive["id"], unknown]
    async with db.sessionmaker() as s:
        found = await score_pairs(
            s,
            app_id=tenant.id,
            mentee_ids=[mentee["id"], "mte_01JD8X9E3F4G5H6J7K8M9N0P1Q"],
            mentor_ids=mentors,
        )
    assert set(found) == {(mentee["id"], kept["id"])}
    pair = found[(mentee["id"], kept["id"])]
    assert "Teaches Pivot tables at level 4, a skill you seek (you are at 2)" in pair.reasons
    assert pair.components["skill"] == 0.8  # wants level 3, gets 4: 0.6 + 0.4 * (4 - 3) / (5 - 3)


async def test_goals_stand_for_the_ask(db: Database, tenant: Tenant) -> None:
    client = tenant.client
    skill = await create_skill(client, name="Leadership")
    coach = await create_mentor(
        client,
        bio="Running my first quarterly budget review",
        skills=[{"skill_id": skill["id"], "level": 4}],
    )
    other = await create_mentor(client, skills=[{"skill_id": skill["id"], "level": 4}])
    mentee = await create_mentee(client)
    response = await client.post(
        f"/v1/mentees/{mentee['id']}/goals", json={"title": "Own the quarterly budget"}
    )
    assert response.status_code == 201, response.text
    async with db.sessionmaker() as s:
        found = await score_pairs(
            s, app_id=tenant.id, mentee_ids=[mentee["id"]], mentor_ids=[coach["id"], other["id"]]
        )
    assert found[(mentee["id"], coach["id"])].components["text"] == 1.0
    assert found[(mentee["id"], other["id"])].components["text"] == 0.0
