"""Free slots as the API shows them, straight from the engine's integers.

A slots response is hundreds of objects of three timestamps each; building a pydantic model per
slot and letting FastAPI validate and serialize them again cost more than finding the slots.
`FreeSlots.page_json` writes the JSON body of `Page[Slot]` directly, byte for byte what pydantic
wrote (`starts_at`/`ends_at` as `YYYY-MM-DDTHH:MM:SSZ`, `local_start` as `datetime.isoformat()`
in the display zone); tests/test_slot_equivalence.py holds it to that.

Every instant here is a whole second: a window edge is a wall-clock minute minus a zone offset
(whole seconds in tzdata) and candidates step in whole minutes.
"""

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from mentorapi.availability.schemas import Slot
from mentorapi.availability.slots import DAY, US, Clock, date_of, from_us

# "HH:MM:00" for every minute of a day.
_WHOLE_MINUTES = [f"{m // 60:02d}:{m % 60:02d}:00" for m in range(1440)]
_DAY_SECONDS = DAY // US


def _text(second: int) -> str:
    """A second since 1970 as YYYY-MM-DDTHH:MM:SS (what isoformat writes of a whole second)."""
    day, at = divmod(second, _DAY_SECONDS)
    minutes, seconds = divmod(at, 60)
    return f"{date_of(day).isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}"


def offset_text(offset: int) -> str:
    """An offset in microseconds as isoformat() writes it: +01:00, -04:00, +00:53:28."""
    sign = "-" if offset < 0 else "+"
    hours, rest = divmod(abs(offset) // US, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return f"{text}:{seconds:02d}" if seconds else text


@dataclass(frozen=True, slots=True)
class FreeSlots:
    """Free start times (microseconds since 1970, UTC, in order) of sessions of `duration`
    microseconds, shown in the zone whose offsets `display` holds."""

    starts: list[int]
    duration: int
    display: Clock
    # The JSON object of each slot, once rendered (`rendered`): a page kept for reuse
    # (availability/memo.py) is written once, and each use joins what it shows.
    shown: list[str] | None = None

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> Slot:
        start = self.starts[index]
        offset = self.display.offset(start)
        return Slot(
            starts_at=from_us(start),
            ends_at=from_us(start + self.duration),
            local_start=_text((start + offset) // US) + offset_text(offset),
        )

    def __iter__(self) -> Iterator[Slot]:
        for starts_at, ends_at, local_start in self.rows():
            yield Slot(starts_at=starts_at, ends_at=ends_at, local_start=local_start)

    def _runs(self) -> Iterator[tuple[list[int], int]]:
        """The starts cut where the display offset changes: (starts, offset) pairs."""
        changes, offsets = self.display.changes, self.display.offsets
        starts = self.starts
        i, begin = 0, 0
        for c in range(1, len(changes)):
            # Starts before change c have the offset before it.
            end = begin
            while end < len(starts) and starts[end] < changes[c]:
                end += 1
            if end > begin:
                yield starts[begin:end], offsets[c - 1]
            begin, i = end, c
        if begin < len(starts):
            yield starts[begin:], offsets[i]

    def rendered(self) -> "FreeSlots":
        """The same slots with their JSON objects written."""
        if self.shown is not None:
            return self
        return FreeSlots(self.starts, self.duration, self.display, self._objects())

    def starting_from(self, instant: int) -> "FreeSlots":
        """The slots that start at or after `instant` (microseconds since 1970)."""
        first = bisect.bisect_left(self.starts, instant)
        if first == 0:
            return self
        shown = None if self.shown is None else self.shown[first:]
        return FreeSlots(self.starts[first:], self.duration, self.display, shown)

    def up_to(self, instant: int) -> "FreeSlots":
        """The slots that start at or before `instant` (microseconds since 1970)."""
        stop = bisect.bisect_right(self.starts, instant)
        if stop == len(self.starts):
            return self
        shown = None if self.shown is None else self.shown[:stop]
        return FreeSlots(self.starts[:stop], self.duration, self.display, shown)

    def page_json(self) -> bytes:
        """The body of `Page[Slot]` with these slots and no next cursor."""
        parts = self.shown if self.shown is not None else self._objects()
        return ('{"data":[' + ",".join(parts) + '],"next_cursor":null}').encode()

    def _objects(self) -> list[str]:
        """Each slot as its JSON object, in order."""
        length = self.duration // US
        whole, day_seconds = _WHOLE_MINUTES, _DAY_SECONDS
        parts: list[str] = []
        add = parts.append
        for starts, offset in self._runs():
            shift = offset // US
            zone = offset_text(offset)
            # Most slots start, end and show on one date, in whole minutes: one format per date
            # with the date written in, three table lookups per slot.
            same_day: dict[int, str] = {}
            fast = not shift % 60
            for start in starts:
                second = start // US
                day, at = divmod(second, day_seconds)
                end, local = at + length, at + shift
                if fast and end < day_seconds and 0 <= local < day_seconds and not at % 60:
                    template = same_day.get(day)
                    if template is None:
                        text = date_of(day).isoformat()
                        template = same_day[day] = (
                            f'{{"starts_at":"{text}T%sZ","ends_at":"{text}T%sZ",'
                            f'"local_start":"{text}T%s{zone}"}}'
                        )
                    add(template % (whole[at // 60], whole[end // 60], whole[local // 60]))
                else:
                    add(
                        f'{{"starts_at":"{_text(second)}Z","ends_at":"{_text(second + length)}Z",'
                        f'"local_start":"{_text(second + shift)}{zone}"}}'
                    )
        return parts

    def rows(self) -> list[tuple[datetime, datetime, str]]:
        """(starts_at, ends_at, local_start) of each slot, for faces that want objects."""
        return [
            (from_us(start), from_us(start + self.duration), _text((start + offset) // US) + zone)
            for starts, offset in self._runs()
            for zone in (offset_text(offset),)
            for start in starts
        ]
