"""The fleet under test, from the environment scripts/fleet.sh sets (`make fleet-test`)."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.fleet.blackbox.support import Fleet, app_client


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    try:
        return Fleet(
            url=os.environ["MENTORAPI_FLEET_URL"],
            key=os.environ["MENTORAPI_FLEET_KEY"],
            other_key=os.environ["MENTORAPI_FLEET_OTHER_KEY"],
            direct_database_url=os.environ["MENTORAPI_FLEET_DIRECT_DATABASE_URL"],
            member_limit=int(os.environ["MENTORAPI_FLEET_MEMBER_LIMIT"]),
            directory=Path(os.environ["MENTORAPI_FLEET_DIR"]),
        )
    except KeyError as missing:
        raise RuntimeError(f"{missing} unset: run these tests with `make fleet-test`") from None


@pytest.fixture
async def client(fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(fleet, fleet.key) as c:
        yield c
