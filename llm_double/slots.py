"""FIFO request slots: the double's model of a server that runs a fixed number of sequences.

Requests beyond the limit wait in arrival order, so a test can see queueing as a real
inference server shows it.
"""

from __future__ import annotations

import asyncio
from collections import deque


class SlotGate:
    """FIFO admission to a limited number of slots; the limit may change at run time."""

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Requests queued for a slot."""
        return len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, queueing behind earlier requests when all are taken."""
        if not self._waiters and (self.capacity is None or self.in_use < self.capacity):
            self.in_use += 1
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed over as we were cancelled
            elif future in self._waiters:
                self._waiters.remove(future)
            raise

    def release(self) -> None:
        """Give a slot back and hand it to the longest-waiting request."""
        self.in_use -= 1
        self._wake()

    def resize(self, capacity: int | None) -> None:
        """Change the number of slots; waiters are admitted at once if room appears."""
        self.capacity = capacity
        self._wake()

    def _wake(self) -> None:
        while self._waiters and (self.capacity is None or self.in_use < self.capacity):
            future = self._waiters.popleft()
            if not future.done():
                self.in_use += 1
                future.set_result(None)
