"""A small per-process memory of recent answers, each forgotten after a fixed time.

Typeahead asks the same thing keystroke after keystroke; an upstream need
not be asked each time. Bounded in entries: the oldest go first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    """``get_or_make(key, make)``: the value made within ``seconds``, else a fresh one (kept)."""

    def __init__(self, seconds: float, entries: int = 1024) -> None:
        self.seconds = seconds
        self.entries = entries
        self._kept: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        if self.seconds <= 0:
            return make()
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] > now:
                return kept[1]
        value = make()  # outside the lock: a slow upstream holds up no other key
        with self._lock:
            self._kept[key] = (now + self.seconds, value)
            self._kept.move_to_end(key)
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)
        return value
