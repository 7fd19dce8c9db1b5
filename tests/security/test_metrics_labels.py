"""Metric labels stay bounded whatever a caller sends: every method and path a caller invents
would otherwise be a new time series, kept for the life of the process."""

import httpx
from fastapi import FastAPI

from tests.conftest import ServerTransport


def _series(app: FastAPI) -> int:
    registry = app.state.metrics.registry
    return sum(len(metric.samples) for metric in registry.collect())


async def test_invented_methods_and_paths_add_no_series(app: FastAPI) -> None:
    transport = ServerTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for n in range(3):  # the "other" and "unmatched" series exist after the first round
            await client.request(f"XMETHOD{n}", "/v1/skills")
            await client.get(f"/no/such/path/{n}")
        before = _series(app)
        for n in range(3, 60):
            await client.request(f"XMETHOD{n}", "/v1/skills")
            await client.get(f"/no/such/path/{n}")
        assert _series(app) == before
