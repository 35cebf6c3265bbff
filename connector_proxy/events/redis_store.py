"""Events in the jobs' Redis, under the same prefix: every daemon and machine sees the same ones.

Each change that must be all-or-nothing (keeping a poll's events with its cursor while its
lease holds; claiming a due delivery) is one Lua script, so a process killed halfway leaves
no half-written event behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, cast

from connector_proxy.config import EventSettings, JobSettings
from connector_proxy.events.model import FINISHED, PENDING, STATES, StoredEvent, next_poll_record
from connector_proxy.events.registration import REMOVED, Registration
from connector_proxy.events.store import Poll
from connector_proxy.secrets.record_encryption import Sealer
from connector_proxy.stores.leases import HOLD, RELEASE, LeaseLost
from connector_proxy.stores.redis_indexes import counts_by_state, newest, redis_client

# ARGV: prefix, subscription, owner ('' for a webhook's events), cursor JSON, seconds a finished record
# is kept, then id, record, received_at, next_at, state for each event. {-1} if the lease is lost,
# else 1 (kept) or 0 (kept already) per event.
ADD = """
local p = ARGV[1]
if ARGV[3] ~= '' then
  if redis.call('GET', p .. ':poller:' .. ARGV[2] .. ':lease') ~= ARGV[3] then return {-1} end
  redis.call('SET', p .. ':poller:' .. ARGV[2] .. ':cursor', ARGV[4])
end
local created = {}
for i = 6, #ARGV, 5 do
  local id = ARGV[i]
  if redis.call('SET', p .. ':event:' .. id, ARGV[i + 1], 'NX') then
    redis.call('ZADD', p .. ':events', ARGV[i + 2], id)
    redis.call('ZADD', p .. ':events:' .. ARGV[i + 4], ARGV[i + 2], id)
    if ARGV[i + 4] == 'pending' then
      redis.call('ZADD', p .. ':events:due', ARGV[i + 3], id)
    else
      redis.call('EXPIRE', p .. ':event:' .. id, ARGV[5])
    end
    created[#created + 1] = 1
  else
    created[#created + 1] = 0
  end
end
return created
"""
# KEYS: a hash (registrations, or operators' requests). ARGV: subscription, the value as read. Deleted
# only if unchanged.
FORGET = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""
# KEYS: operators' requests, registrations. ARGV: subscription, the request as read. Deleted only if
# unchanged and the subscription has no record (a record set up meanwhile takes its request itself).
FORGET_REQUEST = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""
# ARGV: prefix, now, held until. The record of the due event soonest, now held; or nothing.
CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', ARGV[1] .. ':events:due', '-inf', ARGV[2], 'LIMIT', 0, 1)
if #ids == 0 then return false end
local record = redis.call('GET', ARGV[1] .. ':event:' .. ids[1])
if not record then
  redis.call('ZREM', ARGV[1] .. ':events:due', ids[1])
  return false
end
redis.call('ZADD', ARGV[1] .. ':events:due', ARGV[3], ids[1])
return record
"""


class RedisEventStore:
    def __init__(self, jobs: JobSettings, events: EventSettings, sealer: Sealer) -> None:
        self.redis = redis_client(jobs.redis_url)
        self.prefix = jobs.redis_prefix
        self.sealer = sealer
        self.keep = int(events.keep_delivered)
        # a record outlives its receipt by at most this: pending until give_up_after, then kept
        self.longest_life = events.give_up_after + events.keep_delivered
        self._add = self.redis.register_script(ADD)
        self._claim = self.redis.register_script(CLAIM)
        self._forget = self.redis.register_script(FORGET)
        self._forget_request = self.redis.register_script(FORGET_REQUEST)
        self._hold = self.redis.register_script(HOLD)
        self._release = self.redis.register_script(RELEASE)

    def add(self, events: Sequence[StoredEvent], poll: Poll | None = None) -> list[bool]:
        arguments: list[Any] = [self.prefix, poll.subscription if poll else "", poll.owner if poll else ""]
        arguments += [json.dumps(poll.cursor) if poll else "", self.keep]
        for event in events:
            record = event.to_json(self.sealer)
            arguments += [event.id, record, event.received_at, event.next_at or 0, event.state]
        answer = cast(list[int], self._add(args=arguments))
        if answer[:1] == [-1]:
            raise LeaseLost(poll.subscription if poll else "")
        return [bool(flag) for flag in answer]

    def get(self, event_id: str) -> StoredEvent | None:
        data = self.redis.get(self._key(event_id))
        return StoredEvent.from_json(cast(bytes, data), self.sealer) if data else None

    def list(self, state: str | None = None, limit: int = 100) -> list[StoredEvent]:
        index = f"{self.prefix}:events:{state}" if state else f"{self.prefix}:events"
        return [
            StoredEvent.from_json(data, self.sealer) for data in newest(self.redis, index, self._key, limit)
        ]

    def save(self, event: StoredEvent) -> None:
        with self.redis.pipeline() as batch:  # MULTI/EXEC: the record and its indexes change together
            expiry = self.keep if event.finished else None
            batch.set(self._key(event.id), event.to_json(self.sealer), ex=expiry)
            for state in STATES:
                batch.zrem(f"{self.prefix}:events:{state}", event.id)
            batch.zadd(f"{self.prefix}:events:{event.state}", {event.id: event.received_at})
            if event.state == PENDING and event.next_at is not None:
                batch.zadd(f"{self.prefix}:events:due", {event.id: event.next_at})
            else:
                batch.zrem(f"{self.prefix}:events:due", event.id)
            batch.execute()

    def claim_due(self, hold: float) -> StoredEvent | None:
        now = time.time()
        record = self._claim(args=[self.prefix, now, now + hold])
        return StoredEvent.from_json(cast(bytes, record), self.sealer) if record else None

    def cursor(self, subscription: str) -> Any:
        raw = self.redis.get(f"{self.prefix}:poller:{subscription}:cursor")
        return json.loads(cast(bytes, raw)) if raw else None

    def hold_lease(self, subscription: str, owner: str, seconds: float) -> bool:
        return bool(self._hold(keys=[self._lease(subscription)], args=[owner, int(seconds * 1000)]))

    def release_lease(self, subscription: str, owner: str) -> None:
        self._release(keys=[self._lease(subscription)], args=[owner])

    def record_poll(self, subscription: str, result: str, found: int, error: str | None) -> None:
        """Only the lease's holder polls a subscription, so a read and a write need no transaction."""
        key = f"{self.prefix}:polls"
        raw = self.redis.hget(key, subscription)
        previous = json.loads(cast(bytes, raw)) if raw else None
        self.redis.hset(
            key, subscription, json.dumps(next_poll_record(previous, result, found, error, time.time()))
        )

    def polls(self) -> dict[str, dict[str, Any]]:
        stored = cast(dict[bytes, bytes], self.redis.hgetall(f"{self.prefix}:polls"))
        return {name.decode(): json.loads(data) for name, data in stored.items()}

    def registration(self, subscription: str) -> Registration | None:
        raw = self.redis.hget(f"{self.prefix}:registrations", subscription)
        return Registration.from_json(cast(bytes, raw), self.sealer) if raw else None

    def registrations(self) -> Sequence[Registration]:
        stored = cast(dict[bytes, bytes], self.redis.hgetall(f"{self.prefix}:registrations"))
        return [Registration.from_json(stored[name], self.sealer) for name in sorted(stored)]

    def save_registration(self, registration: Registration) -> None:
        data = registration.to_json(self.sealer)
        self.redis.hset(f"{self.prefix}:registrations", registration.subscription, data)

    def request_registration(self, subscription: str, at: float) -> None:
        self.redis.hset(f"{self.prefix}:registration_requests", subscription, repr(at))

    def registration_requests(self) -> dict[str, float]:
        stored = cast(dict[bytes, bytes], self.redis.hgetall(f"{self.prefix}:registration_requests"))
        return {name.decode(): float(at) for name, at in stored.items()}

    def take_registration_request(self, subscription: str, at: float) -> None:
        self._forget(keys=[f"{self.prefix}:registration_requests"], args=[subscription, repr(at)])

    def prune_registrations(self, older_than: float) -> int:
        key = f"{self.prefix}:registrations"
        stored = cast(dict[bytes, bytes], self.redis.hgetall(key))
        gone = 0
        for name, data in stored.items():
            record = Registration.from_json(data, self.sealer)
            if record.state == REMOVED and record.updated_at < older_than:
                gone += int(self._forget(keys=[key], args=[name, data]))  # unless set up anew meanwhile
        requests = f"{self.prefix}:registration_requests"
        for name, at in cast(dict[bytes, bytes], self.redis.hgetall(requests)).items():
            if float(at) < older_than:  # a request whose subscription has no record left: never taken
                self._forget_request(keys=[requests, key], args=[name, at])
        return gone

    def counts(self) -> dict[str, int]:
        """Finished events' records expire by themselves: ids surely expired leave the index first."""
        expired_before = time.time() - self.longest_life
        return counts_by_state(self.redis, f"{self.prefix}:events", STATES, FINISHED, expired_before)

    def prune(self, older_than: float) -> int:
        """Nothing to do: finished records expire (``events.keep_delivered``); indexes are tidied
        when read."""
        return 0

    def ping(self) -> None:
        """A write, not a PING: a Redis at its maxmemory (or that cannot persist) still answers PING."""
        self.redis.set(f"{self.prefix}:events:probe", time.time(), ex=60)

    def recover(self) -> None:
        """Nothing to do: several daemons share the store, and leases and holds expire by themselves."""

    def _key(self, event_id: str) -> str:
        return f"{self.prefix}:event:{event_id}"

    def _lease(self, subscription: str) -> str:
        return f"{self.prefix}:poller:{subscription}:lease"
