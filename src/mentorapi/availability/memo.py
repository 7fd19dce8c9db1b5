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

Bounded by slots kept (a 31-day page of 5-minute slots is ~9,000), oldest out first.
"""

from collections import OrderedDict
from collections.abc import Hashable

from mentorapi.availability.render import FreeSlots

BUDGET = 200_000  # slots kept per process: ~25 MB of rendered JSON at most


class SlotPages:
    def __init__(self, budget: int = BUDGET) -> None:
        self.budget = budget
        self._pages: OrderedDict[Hashable, FreeSlots] = OrderedDict()
        self._slots = 0

    def get(self, key: Hashable) -> FreeSlots | None:
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
        return page

    def put(self, key: Hashable, page: FreeSlots) -> None:
        if len(page) > self.budget or key in self._pages:
            return
        self._pages[key] = page
        self._slots += len(page)
        while self._slots > self.budget:
            _, oldest = self._pages.popitem(last=False)
            self._slots -= len(oldest)

    def clear(self) -> None:
        self._pages.clear()
        self._slots = 0

    def __len__(self) -> int:
        return len(self._pages)


pages = SlotPages()
