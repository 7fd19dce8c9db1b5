"""SIGTERM under `mentorapi serve`: drain first, then let uvicorn stop.

uvicorn's own stop on SIGTERM closes the listening socket at once, closes idle keep-alive
connections, closes WebSockets with 1012 (service restart: the client reconnects), waits for the
requests in flight up to `timeout_graceful_shutdown` (MENTORAPI_SHUTDOWN_TIMEOUT_SECONDS), then
runs the lifespan's shutdown. Alone, that comes as a surprise to a load balancer: until its
health checks fail it still picks this server, and a request it sends on a pooled connection
that uvicorn has just closed gets no answer at all (a refused connection is retried elsewhere by
the balancer; a request already sent is not, since it may have been acted on).

So SIGTERM first makes the process *draining* for MENTORAPI_SHUTDOWN_DRAIN_SECONDS: `/readyz`
answers 503 at once, every other request is served as before, and the balancer takes the
process out; only then does uvicorn's stop begin. A second SIGTERM ends the drain at once; SIGINT
(Ctrl-C) is uvicorn's as before.

The handler wraps uvicorn's own: uvicorn installs that before the lifespan starts (in every
worker of `serve --workers N` too) and puts back its predecessor when the server ends. Where
the SIGTERM handler is not uvicorn's (the tests' in-process apps, another server) nothing is
installed, and `begin()` is there for whoever drives the stop.
"""

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

# uvicorn's own logger: configured in every worker process of `serve`, next to its "Shutting down".
log = logging.getLogger("uvicorn.error")

SignalHandler = Callable[[int, FrameType | None], Any]


class Drain:
    def __init__(self) -> None:
        self.draining = False
        self._uvicorn: SignalHandler | None = None
        self._ours: SignalHandler | None = None
        self._stop: asyncio.TimerHandle | None = None

    def begin(self) -> None:
        """From now on `/readyz` answers 503."""
        if not self.draining:
            self.draining = True
            log.info("draining: /readyz answers 503; requests are served as before")

    def install(self, seconds: float) -> bool:
        """Drain for `seconds` before uvicorn's SIGTERM handling; False where uvicorn does not
        handle SIGTERM here, or there is nothing to wait for."""
        if seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return False
        current = signal.getsignal(signal.SIGTERM)
        if not callable(current) or not isinstance(
            getattr(current, "__self__", None), uvicorn.Server
        ):
            return False
        uvicorn_handler: SignalHandler = current
        loop = asyncio.get_running_loop()

        def on_sigterm(sig: int, _frame: FrameType | None) -> None:
            # A signal handler may run between any two bytecodes: hand over to the loop.
            loop.call_soon_threadsafe(self._sigterm, sig, seconds, uvicorn_handler)

        self._uvicorn, self._ours = uvicorn_handler, on_sigterm
        signal.signal(signal.SIGTERM, on_sigterm)
        return True

    def uninstall(self) -> None:
        """At the lifespan's end: uvicorn's handler back, if ours is still the one."""
        if self._stop is not None:
            self._stop.cancel()
            self._stop = None
        if self._uvicorn is not None and signal.getsignal(signal.SIGTERM) is self._ours:
            signal.signal(signal.SIGTERM, self._uvicorn)
        self._uvicorn = self._ours = None

    def _sigterm(self, sig: int, seconds: float, uvicorn_handler: SignalHandler) -> None:
        if self.draining:  # a second SIGTERM: stop now
            if self._stop is not None:
                self._stop.cancel()
                self._stop = None
            uvicorn_handler(sig, None)
            return
        self.begin()
        log.info("SIGTERM: stopping in %g s (MENTORAPI_SHUTDOWN_DRAIN_SECONDS)", seconds)
        loop = asyncio.get_running_loop()
        self._stop = loop.call_later(seconds, self._stop_now, sig, uvicorn_handler)

    def _stop_now(self, sig: int, uvicorn_handler: SignalHandler) -> None:
        self._stop = None
        uvicorn_handler(sig, None)
