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


def _validator(prefix: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if id_kind(value) != prefix:
            kind = PREFIXES.get(prefix, prefix)
            raise ValueError(f"expected a {kind} id ({prefix}_…), got {value[:40]!r}")
        return value

    return check


def typed_id(prefix: str) -> Any:
    """A str annotated to accept only ids of one kind: the wrong kind is a 422, not a 404."""
    return Annotated[
        str,
        StringConstraints(max_length=40),
        AfterValidator(_validator(prefix)),
        WithJsonSchema({"type": "string", "pattern": f"^{prefix}_[0-9A-Z]{{26}}$"}),
    ]


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
