"""The events' clock: the server's, which is the room's.

Every rule that depends on the time (registration closing, which rounds have started, whether a
pair has met, the live feed's phases) reads `now()`, and the live feed sleeps with
`sleep_until`, both through `current`: tests put a clock of their own there and move it, so
no test waits for a round to end.
"""

import asyncio
from datetime import datetime

from mentorapi.kit.timezones import utcnow


class Clock:
    def now(self) -> datetime:
        return utcnow()

    async def sleep_until(self, instant: datetime) -> None:
        delay = (instant - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


current = Clock()


def now() -> datetime:
    return current.now()
