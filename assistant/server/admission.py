"""The bounded queue in front of the one compute thread.

One request runs at a time (the engine is not thread-safe, and all model work
shares one compute thread anyway); up to ``waiting`` more wait their turn in
arrival order, and one more is refused at once with 429 and Retry-After.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from assistant.server.api_errors import ApiError

RETRY_AFTER_S = 2


class Admission:
    """Admits a request when fewer than 1 + ``waiting`` are in; runs them one by one."""

    def __init__(self, waiting: int):
        self.limit = 1 + waiting
        self.inside = 0  # running + waiting
        self.cancelled = 0  # replies stopped because their client hung up
        self.last_new_tokens = 0  # of the last reply that ended: /health shows both
        self.lock = asyncio.Lock()  # asyncio's lock wakes its waiters in FIFO order

    def ended(self, cancelled: bool, new_tokens: int) -> None:
        """Note how a reply ended."""
        self.cancelled += cancelled
        self.last_new_tokens = new_tokens

    def admit(self) -> Ticket:
        """A ticket for a place in the queue; 429 when it is full.  Synchronous, so that a
        check and the count it makes cannot interleave with another request's."""
        if self.inside >= self.limit:
            raise ApiError(429, f"the server is busy ({self.inside} requests in; try again "
                                f"in {RETRY_AFTER_S} s)", "queue_full",
                           headers={"Retry-After": str(RETRY_AFTER_S)})
        self.inside += 1
        return Ticket(self)


class Ticket:
    """One admitted request: ``turn()`` waits for the compute thread; ``leave()`` is idempotent."""

    def __init__(self, admission: Admission):
        self.admission = admission
        self.left = False

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        try:
            async with self.admission.lock:
                yield
        finally:
            self.leave()

    def leave(self) -> None:
        if not self.left:
            self.left = True
            self.admission.inside -= 1
