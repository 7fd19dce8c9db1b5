"""Weekly series: same local time across DST, all or nothing, cancel the rest."""

from typing import Any

import pytest

from mentorapi.db.engine import Database
from tests.conftest import Tenant
from tests.factories import book_session, bookable
from tests.test_sessions import event_types, travel


async def test_series_keeps_local_time_across_dst(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    # Thursdays at 09:00 Berlin from 2027-03-18; Berlin springs forward on 2027-03-28.
    response = await tenant.client.post(
        "/v1/series",
        json={**base, "starts_at": "2027-03-18T08:00:00Z", "count": 4, "interval_weeks": 1},
    )
    assert response.status_code == 201, response.text
    series = response.json()
    assert series["id"].startswith("ser_")
    assert series["status"] == "active"
    starts = [s["starts_at"] for s in series["sessions"]]
    assert starts == [
        "2027-03-18T08:00:00Z",
        "2027-03-25T08:00:00Z",
        "2027-04-01T07:00:00Z",
        "2027-04-08T07:00:00Z",
    ]
    assert all(s["series_id"] == series["id"] for s in series["sessions"])
    assert all(s["status"] == "booked" for s in series["sessions"])
    for session in series["sessions"]:
        assert await event_types(db, tenant.id, session["id"]) == ["session.booked"]
    got = await tenant.client.get(f"/v1/series/{series['id']}")
    assert got.json() == series


async def test_series_is_all_or_nothing_and_lists_conflicts(tenant: Tenant) -> None:
    base = await bookable(
        tenant.client,
        overrides=[{"date": "2027-01-25", "windows": []}],  # a day off in week 3
    )
    taken = await book_session(tenant.client, base, "2027-01-18T08:00:00Z")  # week 2
    response = await tenant.client.post(
        "/v1/series",
        json={**base, "starts_at": "2027-01-11T08:00:00Z", "count": 4, "interval_weeks": 1},
    )
    assert response.status_code == 409, response.text
    conflicts = response.json()["conflicts"]
    assert [(c["index"], c["starts_at"]) for c in conflicts] == [
        (1, "2027-01-18T08:00:00Z"),
        (2, "2027-01-25T08:00:00Z"),
    ]
    assert "overlaps" in conflicts[0]["reason"]
    assert "outside" in conflicts[1]["reason"]
    listed = await tenant.client.get("/v1/sessions", params={"mentor_id": base["mentor_id"]})
    assert [s["id"] for s in listed.json()["data"]] == [taken["id"]]


async def test_cancel_rest_of_series_and_single_occurrence(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await bookable(tenant.client)
    series = (
        await tenant.client.post(
            "/v1/series",
            json={**base, "starts_at": "2027-01-11T08:00:00Z", "count": 4, "interval_weeks": 2},
        )
    ).json()
    ids = [s["id"] for s in series["sessions"]]
    assert [s["starts_at"][:10] for s in series["sessions"]] == [
        "2027-01-11", "2027-01-25", "2027-02-08", "2027-02-22",
    ]  # fmt: skip
    # One occurrence moves on its own; another is cancelled on its own.
    moved = await tenant.client.post(
        f"/v1/sessions/{ids[1]}/reschedule", json={"starts_at": "2027-01-26T08:00:00Z"}
    )
    assert moved.status_code == 200
    assert moved.json()["series_id"] == series["id"]
    single = await tenant.client.post(
        f"/v1/sessions/{ids[2]}/cancel", json={"by": "mentor", "reason": "travel"}
    )
    assert single.json()["status"] == "cancelled"
    # After the first session took place, cancel the rest.
    travel(monkeypatch, "2027-01-12T00:00:00Z")
    await tenant.client.post(f"/v1/sessions/{ids[0]}/complete", json={})
    stale = await tenant.client.post(
        f"/v1/series/{series['id']}/cancel", json={"by": "mentee"}, headers={"If-Match": '"9"'}
    )
    assert stale.status_code == 412
    response = await tenant.client.post(
        f"/v1/series/{series['id']}/cancel", json={"by": "mentee", "reason": "new job"}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "cancelled"
    assert [s["status"] for s in result["sessions"]] == [
        "completed", "cancelled", "cancelled", "cancelled",
    ]  # fmt: skip
    assert result["sessions"][3]["cancel_reason"] == "new job"
    assert result["sessions"][2]["cancel_reason"] == "travel"
    assert (await event_types(db, tenant.id, ids[3])) == ["session.booked", "session.cancelled"]
    again = await tenant.client.post(f"/v1/series/{series['id']}/cancel", json={"by": "mentee"})
    assert again.status_code == 409


@pytest.mark.parametrize(
    "change",
    [
        {"count": 1},
        {"count": 27},
        {"interval_weeks": 5},
        {"interval_weeks": 0},
        {"count": "many"},
        {"format": "async", "starts_at": None},
        {"starts_at": "2027-01-11T09:00:00"},
    ],
)
async def test_bad_series_is_422(tenant: Tenant, change: dict[str, Any]) -> None:
    base = await bookable(tenant.client)
    body = {**base, "starts_at": "2027-01-11T08:00:00Z", "count": 3, "interval_weeks": 1}
    response = await tenant.client.post("/v1/series", json={**body, **change})
    assert response.status_code == 422, response.text


async def test_series_tenancy(tenant: Tenant, other_tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    series = (
        await tenant.client.post(
            "/v1/series", json={**base, "starts_at": "2027-01-11T08:00:00Z", "count": 2}
        )
    ).json()
    assert (await other_tenant.client.get(f"/v1/series/{series['id']}")).status_code == 404
    cancel = await other_tenant.client.post(
        f"/v1/series/{series['id']}/cancel", json={"by": "mentee"}
    )
    assert cancel.status_code == 404
    assert (await tenant.client.get("/v1/series/ses_01JD0000000000000000000000")).status_code == 422
