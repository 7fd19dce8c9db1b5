"""The GraphQL WebSockets open in this process: how many each credential holds, and who must
hear that credentials changed.

- At most `per_key` sockets per API key and `per_member` per member (a member token's person)
  are open at once in one process (MENTORAPI_GRAPHQL_SOCKETS_PER_KEY, _PER_MEMBER). Each socket
  is a task, a session and up to 20 operations: a caller with one valid credential could open
  them without end. `connection_init` past the cap closes the socket with 4429. One counter per
  credential with a socket open, removed with its last socket: bounded by the sockets.
- When apps, keys or members change (PostgreSQL: the `mentorapi_auth` notice every process
  hears, apps/keycache.py; SQLite: this process's commit of such a write), every open socket's
  credential is checked again, each distinct credential once, in one task, and sockets whose
  credential no longer holds are closed with 4401 at once, idle or not. Notices that arrive
  during a round are served by one more round after it.

Every close the service makes on its own says why in its reason, cut to fit (`close_reason`).
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("mentorapi.graphql")

CLOSE_TOO_MANY = 4429  # graphql-ws's customary "too many"
# connection_init refused: the credential, its rate limit, or the database busy. The reason
# says which ("CODE: detail", the code GraphQL's extensions carry over HTTP).
CLOSE_REFUSED = 4403
# RFC 6455 5.5: a control frame carries at most 125 bytes, 2 of them the close code.
MAX_CLOSE_REASON_BYTES = 123


def close_reason(text: str) -> str:
    """`text` as a close frame can carry it: at most 123 bytes of UTF-8, else cut at a
    character and ended with an ellipsis: a longer one is no valid close frame."""
    # "replace": a lone surrogate (text quoted from the client) cannot be sent as UTF-8.
    encoded = text.encode(errors="replace")
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return encoded.decode()
    ellipsis = "\u2026"  # 3 bytes
    return encoded[: MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + ellipsis


class Socket(Protocol):
    def credential(self) -> str | None: ...

    async def recheck(self) -> bool:
        """False when the socket was closed (its credential no longer holds)."""
        ...


@dataclass
class OpenSockets:
    per_key: int
    per_member: int
    _held: dict[str, int] = field(default_factory=dict)  # rate key -> sockets open
    _sockets: dict[Socket, str] = field(default_factory=dict)  # socket -> its rate key
    _round: asyncio.Task[None] | None = None
    _again: bool = False

    def take(self, socket: Socket, rate_key: str, *, member: bool) -> bool:
        """Admit `socket` for `rate_key`, unless that credential holds the most it may."""
        if socket in self._sockets:
            return True
        held = self._held.get(rate_key, 0)
        if held >= (self.per_member if member else self.per_key):
            return False
        self._held[rate_key] = held + 1
        self._sockets[socket] = rate_key
        return True

    def give_back(self, socket: Socket) -> None:
        """The socket is done (any way it ended); a second call does nothing."""
        rate_key = self._sockets.pop(socket, None)
        if rate_key is None:
            return
        held = self._held.get(rate_key, 0) - 1
        if held > 0:
            self._held[rate_key] = held
        else:
            self._held.pop(rate_key, None)

    def held(self, rate_key: str) -> int:
        return self._held.get(rate_key, 0)

    def __len__(self) -> int:
        return len(self._sockets)

    # --- credentials changed --------------------------------------------------------------------

    def changed(self) -> None:
        """Something about apps, keys or members changed: check every open socket again. Called
        from the event loop's thread (a LISTEN callback, or SQLAlchemy's commit event)."""
        if not self._sockets:
            return
        if self._round is not None and not self._round.done():
            self._again = True  # the change may have come after the running round read it
            return
        self._round = asyncio.get_running_loop().create_task(
            self._recheck_all(), name="graphql sockets recheck"
        )

    async def _recheck_all(self) -> None:
        while True:
            self._again = False
            by_credential: dict[str | None, list[Socket]] = {}
            for socket in list(self._sockets):
                by_credential.setdefault(socket.credential(), []).append(socket)
            for sockets in by_credential.values():
                # One check per credential: the first socket's; the others follow it.
                if not await _recheck(sockets[0]):
                    for other in sockets[1:]:
                        await _recheck(other)
            if not self._again:
                return

    async def stop(self) -> None:
        if self._round is not None:
            self._round.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._round


async def _recheck(socket: Socket) -> bool:
    try:
        return await socket.recheck()
    except Exception as exc:  # the database is away: the next message checks again
        log.warning("could not check a socket's credential again", exc_info=exc)
        return True
