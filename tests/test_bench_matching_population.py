"""The matching benches' population (bench.matching.populate) at a small --mentors, and the
benches' databases, one per checkout (`bench.matching_profile --reuse` keeps its own)."""

import re
from pathlib import Path

import pytest
from bench.kit.names import checkout_database
from bench.matching import PLANTED_PER_ASK, populate

from mentorapi.db.migrate import upgrade_async
from tests.conftest import DATABASES, _create_pg_database, _drop_pg_database


def test_each_checkout_keeps_a_database_of_its_own(tmp_path: Path) -> None:
    def name(checkout: Path) -> str:
        return checkout_database("matching_profile", tmp_path / checkout)

    one, other = name(Path("main")), name(Path("wt") / "branch")
    assert one != other
    assert name(Path("main")) == one
    # The longest scenario name still makes a name PostgreSQL takes whole.
    for found in (one, other, checkout_database("sessions_profile")):
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,62}", found), found


@pytest.mark.skipif("postgresql" not in DATABASES, reason="MENTORAPI_TEST_DATABASES omits it")
async def test_a_small_population_plants_what_it_can() -> None:
    # 300 mentors over 50 skills: few skills are the first of over 20 mentors, so the 100 asks
    # did not fit (random.sample: "Sample larger than population").
    name, url = await _create_pg_database()
    try:
        await upgrade_async(url)
        population = await populate(url, 300, 50)
    finally:
        await _drop_pg_database(name)
    assert 0 < len(population.planted) <= 100
    planted = [mentor for _, right in population.planted for mentor in right]
    assert all(len(right) == PLANTED_PER_ASK for _, right in population.planted)
    assert len(planted) == len(set(planted))  # no mentor planted for two asks
    assert len({ask for ask, _ in population.planted}) == len(population.planted)
