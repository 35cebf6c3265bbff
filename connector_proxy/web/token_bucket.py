"""A token bucket: how much of some work a process takes on per second, bursts included.

Unauthenticated webhook requests cost CPU in proportion to their bodies (read,
then hashed) before their signature can be checked; a byte budget per worker
process bounds that share, so forged floods cannot crowd out keyed calls.
"""

from __future__ import annotations

import threading
import time


class Budget:
    """``per_second`` units, refilled continuously, at most ``burst`` saved up."""

    def __init__(self, per_second: float, burst: float) -> None:
        self.per_second = per_second
        self.burst = burst
        self._left = burst
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self, amount: float) -> bool:
        """Spend ``amount`` if that much is left now; False (nothing spent) otherwise."""
        with self._lock:
            now = time.monotonic()
            self._left = min(self.burst, self._left + (now - self._at) * self.per_second)
            self._at = now
            if amount > self._left:
                return False
            self._left -= amount
            return True
