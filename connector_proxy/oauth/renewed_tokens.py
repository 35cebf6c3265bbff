"""Token sets a command renewed that the host has not stored yet, kept until it can.

A SpiffWorkflow backend stores a renewed set (``refreshed_token_set``) only from a
synchronous answer that completes the task: an error stops it first, and a 202 or a
job's callback carries none. Such a set is kept here, keyed by the SHA-256 of the set
the host still holds, for ``oauth.keep_renewed`` seconds: the next call that brings
that old set is handed the renewed one instead, and its answer carries it to the host.
That matters with providers that rotate refresh tokens: the old set is dead once used.

Kept beside the jobs (their SQLite file, or their Redis), sealed with
``jobs.encryption_keys`` when set, like the jobs' payloads.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from connector_proxy.config import Settings
from connector_proxy.sdk.auth import looks_like_token_set, parse_token_set, token_fingerprint
from connector_proxy.sdk.context import RefreshedTokens
from connector_proxy.sdk.errors import CommandError
from connector_proxy.secrets.record_encryption import Sealer
from connector_proxy.stores.sqlite_file import SqliteFile

SCHEMA = """CREATE TABLE IF NOT EXISTS renewed
  (given TEXT PRIMARY KEY, secret TEXT NOT NULL, token_set TEXT NOT NULL, until REAL NOT NULL);"""
SPIFF_PREFIX = "spiff__"
log = logging.getLogger(__name__)


class RenewedStore(Protocol):
    def keep(self, given: str, secret: str, token_set: str, lifetime: float) -> None: ...

    def find(self, given: str) -> tuple[str, str] | None:
        """The secret's name and the sealed set kept for the host's set ``given``."""
        ...

    def drop(self, given: str) -> None: ...


class SqliteRenewed:
    def __init__(self, path: Path) -> None:
        self.file = SqliteFile(path, SCHEMA)

    def keep(self, given: str, secret: str, token_set: str, lifetime: float) -> None:
        now = time.time()
        with self.file.write() as db:
            db.execute("DELETE FROM renewed WHERE until < ?", (now,))  # the table holds live sets only
            db.execute(
                "INSERT OR REPLACE INTO renewed (given, secret, token_set, until) VALUES (?, ?, ?, ?)",
                (given, secret, token_set, now + lifetime),
            )

    def find(self, given: str) -> tuple[str, str] | None:
        query = "SELECT secret, token_set FROM renewed WHERE given = ? AND until >= ?"
        row = self.file.read().execute(query, (given, time.time())).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def drop(self, given: str) -> None:
        with self.file.write() as db:
            db.execute("DELETE FROM renewed WHERE given = ?", (given,))


class RedisRenewed:
    def __init__(self, redis_url: str, prefix: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(redis_url)
        self.prefix = prefix

    def keep(self, given: str, secret: str, token_set: str, lifetime: float) -> None:
        value = json.dumps([secret, token_set])
        self.redis.set(self._key(given), value, ex=max(1, int(lifetime)))

    def find(self, given: str) -> tuple[str, str] | None:
        raw = self.redis.get(self._key(given))
        if raw is None:
            return None
        secret, token_set = json.loads(raw)
        return str(secret), str(token_set)

    def drop(self, given: str) -> None:
        self.redis.delete(self._key(given))

    def _key(self, given: str) -> str:
        return f"{self.prefix}:renewed:{given}"


class Renewals:
    """The daemon's side: hand kept sets in before a call, keep what an answer cannot carry after."""

    def __init__(self, store: RenewedStore | None, lifetime: float, sealer: Sealer | None = None) -> None:
        self.store = store
        self.lifetime = lifetime
        self.sealer = sealer or Sealer(())

    def hand_in(self, payload: Any) -> tuple[Any, dict[str, RefreshedTokens]]:
        """The call with each kept renewal in place of the old set it renews, and those renewals by the
        fingerprint of the set the command now gets (``given`` names the host's old set)."""
        if self.store is None or not isinstance(payload, dict):
            return payload, {}
        handed: dict[str, RefreshedTokens] = {}
        replaced = dict(payload)
        for key, value in payload.items():
            if key.startswith(SPIFF_PREFIX) or not looks_like_token_set(value):
                continue
            given = _fingerprint(value)
            kept = self._find(given) if given is not None else None
            if given is None or kept is None:
                continue
            token_set = self._open(kept[1])
            if token_set is None:
                continue
            replaced[key] = json.dumps(token_set) if isinstance(value, str) else token_set
            handed[token_fingerprint(token_set)] = RefreshedTokens(kept[0], token_set, given)
        return replaced, handed

    def outstanding(
        self, handed: Mapping[str, RefreshedTokens], refreshed: list[RefreshedTokens]
    ) -> list[RefreshedTokens]:
        """What the host has yet to store, one set per set it holds (the latest renewal of it), each
        named by that set; the latest last."""
        origin = {handed_fp: tokens.given for handed_fp, tokens in handed.items()}
        latest = {tokens.given: tokens for tokens in handed.values()}
        for tokens in refreshed:  # renewed once, or again (a 401 after a refresh): the host holds the first
            given = origin.get(tokens.given, tokens.given)
            origin[token_fingerprint(tokens.token_set)] = given
            latest.pop(given, None)
            latest[given] = RefreshedTokens(tokens.secret, tokens.token_set, given)
        return list(latest.values())

    def settle(self, outstanding: list[RefreshedTokens], stored: RefreshedTokens | None) -> None:
        """Forget the set the host stores now; keep every other one until a later answer carries it."""
        for tokens in outstanding:
            if not tokens.given:
                if tokens is not stored:
                    log.warning(
                        "a renewed token set for secret %s is lost: nothing carries it", tokens.secret
                    )
                continue
            if self.store is None:
                continue
            try:
                if tokens is stored:
                    self.store.drop(tokens.given)
                else:
                    sealed = json.dumps(self.sealer.seal(dict(tokens.token_set)))
                    self.store.keep(tokens.given, tokens.secret, sealed, self.lifetime)
                    log.info(
                        "a renewed token set for secret %s is kept for the host's next call", tokens.secret
                    )
            except Exception as error:  # the store is down: the call's answer stands; the set is lost
                problem = type(error).__name__  # never the store's URL
                log.warning(
                    "a renewed token set for secret %s could not be kept (%s)", tokens.secret, problem
                )

    def _find(self, given: str) -> tuple[str, str] | None:
        try:
            return self.store.find(given) if self.store is not None else None
        except Exception as error:  # the store is down: the call runs with the set the host gave
            log.warning("kept token sets cannot be read (%s)", type(error).__name__)
            return None

    def _open(self, sealed: str) -> dict[str, Any] | None:
        try:
            opened = self.sealer.open(json.loads(sealed))
        except Exception as error:  # a key rotated away, say: the host's old set is used as it is
            log.warning("a kept renewed token set cannot be opened (%s)", type(error).__name__)
            return None
        return dict(opened) if isinstance(opened, Mapping) else None


def _fingerprint(value: Any) -> str | None:
    try:
        return token_fingerprint(parse_token_set(value))
    except CommandError:
        return None


def create_renewals(settings: Settings) -> Renewals:
    """The store beside the jobs'."""
    store: RenewedStore
    if settings.jobs.backend == "celery":
        store = RedisRenewed(settings.jobs.redis_url, settings.jobs.redis_prefix)
    else:
        store = SqliteRenewed(settings.sqlite_path)
    return Renewals(store, settings.oauth.keep_renewed, Sealer(settings.jobs.encryption_keys))
