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
}

ID_PATTERN = re.compile(r"^([a-z]{3})_([0-9A-HJKMNP-TV-Z]{26})$")
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


def typed_id(prefix: str) -> Any:
    """A str annotated to accept only ids of one kind: the wrong kind is a 422, not a 404."""
    return Annotated[
        str,
        StringConstraints(max_length=MAX_ID_LENGTH),
        AfterValidator(_validator(prefix)),
        WithJsonSchema({"type": "string", "pattern": f"^{prefix}_[0-9A-Z]{{26}}$"}),
    ]


# An id of any kind (a filter on "the object an event is about").
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
