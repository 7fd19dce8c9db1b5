"""Slot pages kept per process, keyed by everything they are computed from.

Finding and writing four weeks of slots costs more than reading what they come from, and the
same page is asked for again and again (mentees looking at one mentor's next weeks, an app
polling). Every slots request still reads the mentor, the availability and the held times from
the database; when all of them, and the request's range, duration and display zone, are what an
earlier request had, its page is reused. So a page is never stale: any change to what it is
computed from (a booking, a cancel, an expiry, a new window, a zone) is a new key.

Time passing is the one input not in the key. A page is kept without the minimum notice
applied (as if asked at `start - notice`), and each use shows the slots from `now + notice` on:
candidates lie on the same grid either way, so that suffix is exactly what the engine finds
with the notice (tests/test_slot_memo.py holds the two to the same bytes).

The range comes from the caller, so the pages are bounded by entries and by bytes
(kit/bounded.py), oldest out first: an empty page still costs its entry and its key (the
availability and the held times are in it), and a caller asking for the same weeks with a
different microsecond each time fills the memo with no more than `MAX_BYTES`. (The service asks
with whole seconds anyway: every candidate is a whole second, so the microseconds change
nothing but the key.)
"""

from collections.abc import Hashable

from mentorapi.availability.render import FreeSlots
from mentorapi.kit.bounded import BoundedLRU, text_weight

MAX_PAGES = 4_096
MAX_BYTES = 32 * 2**20  # ~a thousand four-week pages of 15-minute slots, rendered

# CPython sizes, near enough: an int in a list (the object and its slot), a str's header.
_INT = 36
_STR = 57


def page_weight(key: Hashable, page: FreeSlots) -> int:
    """About the bytes an entry holds: its key, the starts, their rendered JSON, the zone's
    offsets and the objects around them."""
    shown = page.shown or ()
    return (
        text_weight(key)
        + 200  # the FreeSlots, its lists and the Clock
        + _INT * len(page.starts)
        + sum(_STR + 8 + len(text) for text in shown)
        + _INT * (len(page.display.changes) + len(page.display.offsets))
    )


class SlotPages(BoundedLRU[Hashable, FreeSlots]):
    def __init__(self, max_entries: int = MAX_PAGES, max_bytes: int = MAX_BYTES) -> None:
        super().__init__(max_entries=max_entries, max_weight=max_bytes, weigh=page_weight)


pages = SlotPages()
