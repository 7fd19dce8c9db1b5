"""The service around the API: health, readiness, metrics, offline docs, the exported spec."""

import re

import httpx
import pytest

from mentorapi.schemas_export import export
from tests.conftest import Tenant

# Any absolute URL to another host in markup or a script/style reference.
OUTSIDE = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
CSS_IMPORT = re.compile(r"""@import\s+url\(\s*["']?(?:https?:)?//""", re.IGNORECASE)


async def test_health_and_readiness(anon: httpx.AsyncClient, dialect: str) -> None:
    assert (await anon.get("/healthz")).json() == {"status": "ok"}
    ready = await anon.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": dialect}


async def test_metrics_count_requests_by_route_template(tenant: Tenant) -> None:
    await tenant.client.get("/v1/mentors/mtr_01JD8X4K8Y3N6Q2W5E7R9T1V3V")
    text = (await tenant.client.get("/metrics")).text
    assert 'route="/v1/mentors/{mentor_id}"' in text
    assert "mtr_01JD8X4K8Y3N6Q2W5E7R9T1V3V" not in text  # no unbounded label values


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_nothing_from_outside(anon: httpx.AsyncClient, page: str) -> None:
    response = await anon.get(page)
    assert response.status_code == 200
    html = response.text
    assert not OUTSIDE.search(html), OUTSIDE.search(html)
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert assets, "the page references its assets"
    for asset in assets:
        if asset.startswith("data:"):
            continue
        fetched = await anon.get(asset)
        assert fetched.status_code == 200, asset
        if asset.endswith(".css"):
            assert not CSS_IMPORT.search(fetched.text), asset
    assert "/openapi.json" in html


async def test_openapi_is_served(anon: httpx.AsyncClient) -> None:
    spec = (await anon.get("/openapi.json")).json()
    assert "/v1/mentors" in spec["paths"]


def test_exported_schemas_match_the_code() -> None:
    assert export(check=True) == [], "run `mentorapi export-schemas` and commit the result"
