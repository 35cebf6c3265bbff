"""Encryption at rest of what a stored record holds that may be secret: a job's payload and envelope,
an event's payload.

Off unless ``jobs.encryption_keys`` is set. Keys are Fernet keys (AES-128-CBC
with HMAC-SHA256, from the cryptography package); the first seals, every one
opens, so a key is rotated by putting the new one first. Records written
before encryption was turned on are still read. The cryptography package is
imported only when keys are set (it costs ~15 ms of start-up otherwise).
"""

from __future__ import annotations

from typing import Any

from connector_proxy.host import jsontext, task_data

SEALED = "sealed"  # a sealed field is stored as {"sealed": "<Fernet token>"}


class SealedRecordError(RuntimeError):
    """A sealed record this daemon cannot open (no key, or none of the keys that sealed it)."""


class Sealer:
    def __init__(self, keys: tuple[str, ...]) -> None:
        self._fernet: Any = None
        if keys:
            from cryptography.fernet import Fernet, MultiFernet

            self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, value: Any) -> Any:
        if self._fernet is None or value is None:
            return value
        return {SEALED: self._fernet.encrypt(jsontext.dumps(value, as_stored=True)).decode("ascii")}

    def open(self, value: Any) -> Any:
        if not (isinstance(value, dict) and set(value) == {SEALED}):
            return value  # written in the clear (before encryption was turned on)
        if self._fernet is None:
            raise SealedRecordError("a job record is encrypted and jobs.encryption_keys is not set")
        from cryptography.fernet import InvalidToken

        try:
            return task_data.read_stored(self._fernet.decrypt(value[SEALED].encode("ascii")))
        except InvalidToken:
            raise SealedRecordError(
                "a job record was encrypted with a key not in jobs.encryption_keys"
            ) from None


def valid_key(key: str) -> bool:
    from cryptography.fernet import Fernet

    try:
        Fernet(key)
    except (ValueError, TypeError):
        return False
    return True
