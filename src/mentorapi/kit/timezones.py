"""IANA time zones and UTC instants."""

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# The shape of every IANA zone name (`Area/Location[/Sub]`, `UTC`, `Etc/GMT+5`): documented in
# the schema (a list of ~600 names would be too much); the tz database decides which exist, and
# a test holds every one of them to this pattern.
TIMEZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*$"


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(name: str) -> str:
    """Return the name when it is an IANA zone; raise ValueError (a 422) otherwise."""
    if name not in _known():
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin'")
    return name


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError as exc:  # pragma: no cover - names are validated on the way in
        raise ValueError(f"unknown time zone {name!r}") from exc


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Any offset in, UTC out; a naive datetime is refused (it names no instant)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a timestamp needs an offset, e.g. 2026-12-01T09:00:00Z")
    return value.astimezone(UTC)
