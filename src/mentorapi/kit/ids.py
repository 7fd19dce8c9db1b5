"""Opaque, prefixed, time-ordered ids (`mtr_01JD…`).

The body is a ULID (48-bit millisecond time + 80 random bits, Crockford base32), so ids sort by
creation time: keyset pagination on id is stable and index-friendly on both databases.
"""

import os
import re
import time
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints, WithJsonSchema

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 26

PREFIXES = {
    "app": "client app",
    "key": "API key",
    "skl": "skill",
    "mtr": "mentor",
    "mte": "mentee",
    "ses": "session",
    "ser": "series",
    "fbk": "feedback",
    "whe": "webhook endpoint",
    "evt": "event",
    "dlv": "delivery",
    "gol": "goal",
    "mls": "milestone",
    "imp": "impact update",
    "act": "action item",
    "dla": "delivery attempt",
    "grp": "group session",
    "sea": "seat",
    "coh": "cohort",
    "mrn": "match run",
    "mpr": "match proposal",
    "mat": "match",
    "mev": "mentoring event",
}

# Crockford base32: no I, L, O or U. One definition for the check below and the documented
# pattern of every id field, request and response (`id_schema`).
BODY_PATTERN = "[0-9A-HJKMNP-TV-Z]{26}"
ID_PATTERN = re.compile(rf"^([a-z]{{3}})_({BODY_PATTERN})$")
# Longer than any id (30 characters), so a bound on a field that names an object of any kind
# refuses nothing real; the typed ids below are bound by their pattern.
MAX_ID_LENGTH = 40


def new_id(prefix: str) -> str:
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(BODY_LENGTH):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def id_kind(value: str) -> str | None:
    """The prefix of a well-formed id, or None when the string is not an id at all."""
    match = ID_PATTERN.match(value)
    return match.group(1) if match else None


def check_id(value: str, prefix: str) -> str:
    """The id if it is one of this kind, else a ValueError: one rule and one message for REST
    (`typed_id` below) and GraphQL (graphql/inputs.py)."""
    if id_kind(value) != prefix:
        kind = PREFIXES.get(prefix, prefix)
        raise ValueError(f"expected a {kind} id ({prefix}_…), got {value[:MAX_ID_LENGTH]!r}")
    return value


def _validator(prefix: str) -> Callable[[str], str]:
    return lambda value: check_id(value, prefix)


def id_schema(prefix: str | None = None) -> dict[str, Any]:
    """The JSON Schema of an id of one kind (or of any kind): what `check_id` accepts."""
    kind = prefix or "[a-z]{3}"
    example = f"{prefix or 'mtr'}_01JD8X4K8Y3N6Q2W5E7R9T1V3V"
    what = f"A {PREFIXES[prefix]} id." if prefix else "An id of any kind."
    return {
        "type": "string",
        "pattern": f"^{kind}_{BODY_PATTERN}$",
        "minLength": len(example),
        "maxLength": len(example),
        "description": what,
        "examples": [example],
    }


def typed_id(prefix: str) -> Any:
    """A str annotated to accept only ids of one kind: the wrong kind is a 422, not a 404."""
    return Annotated[
        str,
        StringConstraints(max_length=MAX_ID_LENGTH),
        AfterValidator(_validator(prefix)),
        WithJsonSchema(id_schema(prefix)),
    ]


def read_id(prefix: str | None = None) -> Any:
    """An id as a response shows it: documented like `typed_id`, not validated again (the
    server wrote it)."""
    return Annotated[str, WithJsonSchema(id_schema(prefix))]


def documented_id(prefix: str) -> Any:
    """An id in a request that the service looks up itself (an unknown or foreign one is
    already a 422 there): only its documented pattern is added, so a client can check it."""
    return Annotated[
        str, StringConstraints(max_length=MAX_ID_LENGTH), WithJsonSchema(id_schema(prefix))
    ]


# An id of any kind (a filter on "the object an event is about"). Not checked: an id that is
# not one simply matches nothing.
AnyId = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH)]

SkillId = typed_id("skl")
MentorId = typed_id("mtr")
MenteeId = typed_id("mte")
SessionId = typed_id("ses")
SeriesId = typed_id("ser")
FeedbackId = typed_id("fbk")
EndpointId = typed_id("whe")
EventId = typed_id("evt")
DeliveryId = typed_id("dlv")
GoalId = typed_id("gol")
MilestoneId = typed_id("mls")
ImpactUpdateId = typed_id("imp")
ActionItemId = typed_id("act")
GroupSessionId = typed_id("grp")
SeatId = typed_id("sea")
CohortId = typed_id("coh")
MatchRunId = typed_id("mrn")
ProposalId = typed_id("mpr")
MatchId = typed_id("mat")
MentoringEventId = typed_id("mev")

# A skill named in a request by id, looked up by the service (skills.service.resolve_choices).
SkillRefId = documented_id("skl")

# The same ids in responses (documented, not re-validated).
AppIdOut = read_id("app")
SkillIdOut = read_id("skl")
MentorIdOut = read_id("mtr")
MenteeIdOut = read_id("mte")
SessionIdOut = read_id("ses")
SeriesIdOut = read_id("ser")
FeedbackIdOut = read_id("fbk")
EndpointIdOut = read_id("whe")
EventIdOut = read_id("evt")
DeliveryIdOut = read_id("dlv")
GoalIdOut = read_id("gol")
MilestoneIdOut = read_id("mls")
ImpactUpdateIdOut = read_id("imp")
ActionItemIdOut = read_id("act")
AttemptIdOut = read_id("dla")
GroupSessionIdOut = read_id("grp")
SeatIdOut = read_id("sea")
CohortIdOut = read_id("coh")
MatchRunIdOut = read_id("mrn")
ProposalIdOut = read_id("mpr")
MatchIdOut = read_id("mat")
MentoringEventIdOut = read_id("mev")
AnyIdOut = read_id()
