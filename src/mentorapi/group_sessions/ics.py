"""A group session as iCalendar (RFC 5545) events: one file per attendee, and the organizer's.

Times are written in the reader's own zone (`DTSTART;TZID=Europe/Berlin:...`) with the zone's
VTIMEZONE, so a calendar shows the local wall-clock times the zone's rules give, on both sides
of a daylight-saving change (a session from 01:30 across the spring switch ends at 03:30 local,
not 02:30). The times themselves are the stored UTC instants.

An attendee's file is their seat: UID the seat's id, SEQUENCE growing with every change of the
seat or of the group session, the attendee alone besides the organizer (the other mentees are
not theirs to see), their own ask in the description; METHOD:CANCEL once either is cancelled.
The organizer's file is the group session: UID its id, every attendee with their ask.
"""

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from mentorapi.group_sessions.models import GroupSession, GroupSessionStatus, Seat, SeatStatus
from mentorapi.kit.timezones import zone
from mentorapi.mentees.models import Mentee
from mentorapi.mentors.models import Mentor
from mentorapi.sessions.ics import address

# A VTIMEZONE needs only the rules around the event, not those since 1970.
_ZONE_MARGIN = timedelta(days=366)


def _calendar(cancelled: bool, event: Event, starts_at: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//mentorapi//group sessions//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    calendar.add_component(event)
    calendar.add_missing_timezones(
        (starts_at - _ZONE_MARGIN).date(), (starts_at + _ZONE_MARGIN).date()
    )
    ical: bytes = calendar.to_ical()
    return ical


def _event(
    uid: str, sequence: int, stamp: datetime, group: GroupSession, timezone: str, cancelled: bool
) -> Event:
    tz = zone(timezone)
    event = Event()
    event.add("uid", f"{uid}@mentorapi")
    event.add("sequence", sequence)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", group.starts_at.astimezone(tz))
    event.add("dtend", group.ends_at.astimezone(tz))
    event.add("summary", f"Group session: {group.topic[:80]}")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def render_seat(group: GroupSession, seat: Seat, mentor: Mentor, mentee: Mentee) -> bytes:
    """The attendee's file, in the mentee's zone."""
    cancelled = group.status == GroupSessionStatus.cancelled or seat.status == SeatStatus.cancelled
    event = _event(
        seat.id,
        (group.version - 1) + (seat.version - 1),
        max(group.updated_at, seat.updated_at),
        group,
        mentee.timezone,
        cancelled,
    )
    event.add("description", f"{group.topic}\n\nYour ask:\n{seat.ask}")
    event["organizer"] = address("mentor", mentor.id, mentor.name, "CHAIR")
    event.add("attendee", address("mentee", mentee.id, mentee.name, "REQ-PARTICIPANT"))
    return _calendar(cancelled, event, group.starts_at)


def render_organizer(
    group: GroupSession, mentor: Mentor, attendees: list[tuple[Seat, Mentee]]
) -> bytes:
    """The mentor's file, in the mentor's zone, with every attendee and their asks."""
    cancelled = group.status == GroupSessionStatus.cancelled
    event = _event(group.id, group.version - 1, group.updated_at, group, mentor.timezone, cancelled)
    asks = "".join(f"\n- {mentee.name}: {seat.ask}" for seat, mentee in attendees)
    taken = f"{group.seats_taken} of {group.seats} seats taken"
    event.add("description", f"{group.topic}\n\n{taken}" + (f"\n\nAsks:{asks}" if asks else ""))
    event["organizer"] = address("mentor", mentor.id, mentor.name, "CHAIR")
    for _, mentee in attendees:
        event.add("attendee", address("mentee", mentee.id, mentee.name, "REQ-PARTICIPANT"))
    return _calendar(cancelled, event, group.starts_at)
