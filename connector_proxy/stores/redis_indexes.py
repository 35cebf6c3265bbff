"""Records in Redis with sorted-set indexes per state, as the job and event stores keep them.

A finished record expires by itself (``SET … EX``); its id stays in the indexes until it is met
here: a listing drops ids whose record is gone, a count first drops ids surely expired.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import redis

TIMEOUT = 5.0  # seconds a Redis connect or command may take: a Redis that is away fails fast (readiness 503)


def redis_client(url: str) -> redis.Redis:
    """The stores' client: short socket timeouts, so a Redis that went away is an error in seconds, never
    a hang; a connection it dropped (a restart) is made again at the next command."""
    return redis.Redis.from_url(
        url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, health_check_interval=30
    )


def newest(client: redis.Redis, index: str, key: Callable[[str], str], limit: int) -> list[bytes]:
    """The records of the ``limit`` newest ids in ``index``, newest first; expired ones tidied away."""
    ids = [raw.decode() for raw in cast(list[bytes], client.zrevrange(index, 0, limit - 1))]
    records = cast(list[bytes | None], client.mget([key(i) for i in ids])) if ids else []
    expired = [record_id for record_id, data in zip(ids, records, strict=True) if data is None]
    if expired:
        client.zrem(index, *expired)
    return [data for data in records if data is not None]


def counts_by_state(
    client: redis.Redis, prefix: str, states: Sequence[str], finished: Sequence[str], expired_before: float
) -> dict[str, int]:
    """Ids per ``<prefix>:<state>`` index; finished ones indexed before ``expired_before`` leave first."""
    with client.pipeline() as batch:
        for state in finished:
            batch.zremrangebyscore(f"{prefix}:{state}", "-inf", expired_before)
        for state in states:
            batch.zcard(f"{prefix}:{state}")
        answers = batch.execute()[len(finished) :]
    return {state: int(count) for state, count in zip(states, answers, strict=True)}
