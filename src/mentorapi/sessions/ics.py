"""A session as an iCalendar (RFC 5545) event.

The UID is the session's own id, so a calendar updates the one event when a session moves;
SEQUENCE is the session's version, which grows with every change, as RFC 5546 asks. A session
that will not happen is sent as METHOD:CANCEL / STATUS:CANCELLED so calendars remove it.
"""

from datetime import UTC

from icalendar import Calendar, Event, vCalAddress, vText

from mentorapi.sessions.models import Session, SessionStatus

ENDED = {SessionStatus.cancelled, SessionStatus.declined, SessionStatus.expired}


def address(kind: str, id_: str, name: str, role: str) -> vCalAddress:
    # No e-mail addresses live here (the client app keeps its users); a URN names the person.
    found = vCalAddress(f"urn:mentorapi:{kind}:{id_}")
    found.params["cn"] = vText(name)
    found.params["role"] = vText(role)
    return found


def render(session: Session, mentor_name: str, mentee_name: str) -> bytes:
    assert session.starts_at is not None
    assert session.ends_at is not None
    cancelled = SessionStatus(session.status) in ENDED
    calendar = Calendar()
    calendar.add("prodid", "-//mentorapi//sessions//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    event = Event()
    event.add("uid", f"{session.id}@mentorapi")
    event.add("sequence", session.version - 1)
    event.add("dtstamp", session.updated_at.astimezone(UTC))
    event.add("dtstart", session.starts_at.astimezone(UTC))
    event.add("dtend", session.ends_at.astimezone(UTC))
    event.add("summary", f"Mentoring: {session.topic[:80]}")
    description = session.topic
    if session.questions:
        description += "\n\nQuestions:\n" + "\n".join(f"- {q}" for q in session.questions)
    event.add("description", description)
    event.add("status", "CANCELLED" if cancelled else _status(session))
    event["organizer"] = address("mentor", session.mentor_id, mentor_name, "CHAIR")
    event.add("attendee", address("mentee", session.mentee_id, mentee_name, "REQ-PARTICIPANT"))
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical


def _status(session: Session) -> str:
    return "TENTATIVE" if session.status == SessionStatus.requested else "CONFIRMED"
