"""Calendar files of a group session: one per attendee (in the mentee's zone, their own ask, no
other attendee) and the organizer's (in the mentor's zone, every attendee), with local times
that stay right across a daylight-saving change."""

from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from tests.conftest import Tenant
from tests.factories import create_mentee
from tests.group_sessions.conftest import create_group, group_world, take_seat

ROUND_THE_CLOCK = [
    {"day": d, "start": "00:00", "end": "24:00"}
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
]
# Sunday 28 March 2027, 00:30-01:30 UTC: Europe switches to summer time at 01:00 UTC.
ACROSS_THE_SWITCH = "2027-03-28T00:30:00Z"


def _lines(body: bytes) -> list[str]:
    return body.decode().replace("\r\n ", "").split("\r\n")


def _event(body: bytes) -> tuple[Calendar, Calendar]:
    calendar = Calendar.from_ical(body)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


async def test_each_reader_sees_the_local_times_of_their_zone_across_the_dst_change(
    tenant: Tenant,
) -> None:
    c = tenant.client
    base = await group_world(c, weekly=ROUND_THE_CLOCK)
    group = await create_group(c, base, ACROSS_THE_SWITCH, duration_minutes=60)
    london = await create_mentee(c, name="Lou London", timezone="Europe/London")
    new_york = await create_mentee(c, name="Nia New York", timezone="America/New_York")
    lou = await take_seat(c, group["id"], london["id"], ask="Frames: ROWS or RANGE for totals?")
    nia = await take_seat(c, group["id"], new_york["id"], ask="LAG across month boundaries?")
    path = f"/v1/group-sessions/{group['id']}"

    seat = await c.get(f"{path}/seats/{lou['id']}.ics")
    assert seat.status_code == 200, seat.text
    assert seat.headers["content-type"].startswith("text/calendar")
    assert f'filename="{lou["id"]}.ics"' in seat.headers["content-disposition"]
    lines = _lines(seat.content)
    # 00:30 GMT to 02:30 BST: one real hour, two hours of wall clock.
    assert "DTSTART;TZID=Europe/London:20270328T003000" in lines
    assert "DTEND;TZID=Europe/London:20270328T023000" in lines
    assert "TZID:Europe/London" in lines  # the zone's rules travel with the file
    calendar, event = _event(seat.content)
    start, end = event.decoded("dtstart"), event.decoded("dtend")
    assert start.astimezone(UTC) == datetime(2027, 3, 28, 0, 30, tzinfo=UTC)
    # (Python subtracts two times of one zone on the wall clock: compare the instants.)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=1)
    assert str(calendar["method"]) == "REQUEST"
    assert str(event["uid"]) == f"{lou['id']}@mentorapi"
    assert "Frames: ROWS or RANGE" in str(event["description"])
    assert "LAG across" not in seat.text  # another attendee's ask is not theirs to read
    assert "Nia" not in seat.text

    other = _lines((await c.get(f"{path}/seats/{nia['id']}.ics")).content)
    assert "DTSTART;TZID=America/New_York:20270327T203000" in other
    assert "DTEND;TZID=America/New_York:20270327T213000" in other

    organizer = await c.get(f"{path}.ics")
    assert organizer.status_code == 200, organizer.text
    lines = _lines(organizer.content)
    # The mentor's Berlin: 01:30 CET to 03:30 CEST.
    assert "DTSTART;TZID=Europe/Berlin:20270328T013000" in lines
    assert "DTEND;TZID=Europe/Berlin:20270328T033000" in lines
    _, event = _event(organizer.content)
    assert str(event["uid"]) == f"{group['id']}@mentorapi"
    attendees = sorted(str(a.params["cn"]) for a in event["attendee"])
    assert attendees == ["Lou London", "Nia New York"]
    assert "LAG across" in str(event["description"])


async def test_the_files_follow_changes_and_cancellations(tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c, weekly=ROUND_THE_CLOCK)
    group = await create_group(c, base, "2027-03-20T10:00:00Z")
    ana = await create_mentee(c, timezone="Europe/Berlin")
    ben = await create_mentee(c)
    ana_seat = await take_seat(c, group["id"], ana["id"])
    ben_seat = await take_seat(c, group["id"], ben["id"])
    path = f"/v1/group-sessions/{group['id']}"

    async def sequence_and_method(url: str) -> tuple[int, str, str]:
        calendar, event = _event((await c.get(url)).content)
        return int(event["sequence"]), str(calendar["method"]), str(event["status"])

    assert await sequence_and_method(f"{path}/seats/{ana_seat['id']}.ics") == (
        0,
        "REQUEST",
        "CONFIRMED",
    )
    # Moved across the switch: the same UID, a higher SEQUENCE, still 11:00 on Berlin's clock.
    await c.post(f"{path}/reschedule", json={"starts_at": "2027-03-29T09:00:00Z"})
    body = (await c.get(f"{path}/seats/{ana_seat['id']}.ics")).content
    assert "DTSTART;TZID=Europe/Berlin:20270329T110000" in _lines(body)
    assert await sequence_and_method(f"{path}/seats/{ana_seat['id']}.ics") == (
        1,
        "REQUEST",
        "CONFIRMED",
    )
    await c.post(f"{path}/seats/{ana_seat['id']}/cancel", json={"by": "mentee"})
    assert await sequence_and_method(f"{path}/seats/{ana_seat['id']}.ics") == (
        2,
        "CANCEL",
        "CANCELLED",
    )
    assert await sequence_and_method(f"{path}/seats/{ben_seat['id']}.ics") == (
        1,
        "REQUEST",
        "CONFIRMED",
    )
    _, event = _event((await c.get(f"{path}.ics")).content)
    assert str(event["attendee"].params["cn"]) == ben["name"]  # the one attendee left
    await c.post(f"{path}/cancel")
    assert await sequence_and_method(f"{path}.ics") == (2, "CANCEL", "CANCELLED")
    assert await sequence_and_method(f"{path}/seats/{ben_seat['id']}.ics") == (
        3,
        "CANCEL",
        "CANCELLED",
    )
