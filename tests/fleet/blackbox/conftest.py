"""The fleet under test, from the environment scripts/fleet.sh sets (`make fleet-test`)."""

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest


@dataclass(frozen=True)
class Fleet:
    url: str  # the load balancer
    key: str  # an API key of an app created for the run
    direct_database_url: str  # PostgreSQL itself, not through PgBouncer
    member_limit: int  # MENTORAPI_RATE_LIMIT_MEMBER_PER_WINDOW of every API process
    worker_pids: list[int]  # the `mentorapi worker` processes


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    try:
        return Fleet(
            url=os.environ["MENTORAPI_FLEET_URL"],
            key=os.environ["MENTORAPI_FLEET_KEY"],
            direct_database_url=os.environ["MENTORAPI_FLEET_DIRECT_DATABASE_URL"],
            member_limit=int(os.environ["MENTORAPI_FLEET_MEMBER_LIMIT"]),
            worker_pids=[int(p) for p in os.environ["MENTORAPI_FLEET_WORKER_PIDS"].split()],
        )
    except KeyError as missing:
        raise RuntimeError(f"{missing} unset: run these tests with `make fleet-test`") from None


@pytest.fixture
async def client(fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
    """The app's client through the balancer, with room for 50 requests at once."""
    async with httpx.AsyncClient(
        base_url=fleet.url,
        headers={"Authorization": f"Bearer {fleet.key}"},
        timeout=30,
        limits=httpx.Limits(max_connections=100),
    ) as c:
        yield c
