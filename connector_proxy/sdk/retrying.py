"""The one backoff schedule: callbacks, the http connector's retries and isolated workers' restarts use it.

A library loop (urllib3's ``Retry``, tenacity) would sleep on its own terms;
ours must end by the call's deadline, tell the modeler in the task log, and
survive a restart (a callback's next attempt is stored), so only the
schedule is shared.
"""

from __future__ import annotations

import random


def backoff(attempt: int, first: float, cap: float, jitter: float = 0.5) -> float:
    """Seconds before retry number ``attempt`` (1-based): ``first``, doubling up to ``cap``,
    with up to ``jitter`` of it taken off at random so retries of many callers spread out."""
    delay = min(cap, first * 2 ** (attempt - 1))
    return float(delay) * (1.0 - jitter * random.random())
