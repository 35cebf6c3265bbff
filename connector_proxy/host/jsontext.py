"""Strict JSON in and out: the one reader of request bodies and the one writer of answers.

RFC 8259 leaves non-finite numbers, numbers beyond a double's range and lone
surrogates undefined; each of them later failed deep inside a command (an
OverflowError, a UnicodeEncodeError after a child process had started).
Refusing them where JSON enters, and never writing them, keeps every
command's input and every answer portable.
"""

from __future__ import annotations

import json
import math
import secrets
import sys
from typing import Any

import msgspec

MAX_NUMBER = sys.float_info.max  # a double's range: what every JSON reader can hold
NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
# every digit as "9" and every other byte as " ": a run of 309 nines is an integer that may be beyond a double
_DIGITS = bytes(0x39 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"9" * 309
_ESCAPED_COLON = b"\\u003"  # \u003a, \u003A (and their neighbours): a colon msgspec unescapes


class RawJson:
    """JSON text already read once and kept as it came: :func:`dumps` writes it as it is, never parsing
    it again to write it (a megabyte of task data costs a copy, not a parse and an encode)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def text(self) -> bytes:
        """What :func:`dumps` writes in its place (a subclass may check the text first)."""
        return self.raw

    def __copy__(self) -> RawJson:
        return self  # text never changes: records copied with dataclasses.asdict share it

    def __deepcopy__(self, memo: dict[int, Any]) -> RawJson:
        return self


class NotStrictJson(ValueError):
    """The text is not strict JSON; the message says where and why, never what the value was."""


class Unrenderable(ValueError):
    """A document cannot be written as JSON (nested deeper than the interpreter can walk)."""


def loads(raw: bytes | str) -> Any:
    """Parse strict JSON: UTF-8 without a byte order mark (RFC 8259), no NaN or Infinity, no number
    beyond a double, no lone surrogate, no key twice in one object (which value would be meant?).

    msgspec's C reader takes a document first: it refuses by itself all but a duplicate key and an
    integer beyond a double, which are then looked for in C-speed passes over the bytes. Anything it
    refuses, or those passes cannot clear, is read again by :func:`_strict_loads`, whose answer
    (and message naming the field) stands. Both read every document they accept the same.
    """
    fast = _fast_loads(raw)
    return fast.document if fast is not None else _strict_loads(raw)


class _Read:
    __slots__ = ("document",)

    def __init__(self, document: Any) -> None:
        self.document = document


def _fast_loads(raw: bytes | str) -> _Read | None:
    """The document msgspec reads, when it is surely strict; None when the strict reader must decide."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        document = msgspec.json.decode(data)
    except (msgspec.MsgspecError, RecursionError, ValueError):
        return None
    if _LONG_NUMBER in data.translate(_DIGITS) or _ESCAPED_COLON in data:
        return None  # an integer of 309+ digits may be beyond a double; a colon escaped hides a member
    # a key given twice leaves one member, and at least one colon, out of what msgspec kept
    if msgspec.json.encode(document).count(b":") != data.count(b":"):
        return None
    return _Read(document)


def _strict_loads(raw: bytes | str) -> Any:
    """The reference reader: Python's json with a hook for each rule, every refusal named."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw  # not json's guess of UTF-16/32
        if text.startswith("\ufeff"):
            raise NotStrictJson("The body starts with a byte order mark: JSON is UTF-8 without one")
        document = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_int,
            parse_float=_float,
            object_pairs_hook=_object,
        )
        if _may_hold_surrogates(raw):
            _refuse_surrogates(document, "(body)")
    except UnicodeDecodeError:
        raise NotStrictJson("The body is not UTF-8 encoded JSON") from None
    except RecursionError:
        raise NotStrictJson("The body is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise NotStrictJson(f"The body is not valid JSON ({error.msg} at position {error.pos})") from None
    except ValueError as error:  # ours, or the interpreter's limit on an integer's digits
        raise NotStrictJson(str(error) if isinstance(error, NotStrictJson) else _TOO_LONG) from None
    return document


def dumps(document: Any, as_stored: bool = False) -> bytes:
    """Compact JSON; NaN and the infinities become the strings "NaN", "Infinity" and "-Infinity";
    :class:`RawJson` is written as it came: its ``text()``, or, ``as_stored`` (a record this daemon
    reads back itself), its ``raw`` text unchecked."""
    try:
        try:
            return _dumps(document, as_stored)
        except ValueError:  # only a non-finite number: allow_nan=False refuses it
            return _dumps(_finite(document), as_stored)
    except RecursionError:
        raise Unrenderable("the answer is nested too deeply to be written as JSON") from None


# what stands in for raw text while the rest is written: a string no document holds (a random token)
_MARK = f"\x00raw json {secrets.token_hex(8)}\x00"
_WRITTEN_MARK = json.dumps(_MARK).encode()


def _dumps(document: Any, as_stored: bool) -> bytes:
    spliced: list[bytes] = []

    def default(value: Any) -> Any:
        if isinstance(value, RawJson):
            spliced.append(value.raw if as_stored else value.text())
            return _MARK
        return str(value)  # values JSON cannot hold (a datetime, say) are shown as text rather than failing

    written = json.dumps(document, separators=(",", ":"), default=default, allow_nan=False).encode()
    if not spliced:
        return written
    parts = written.split(_WRITTEN_MARK)  # in document order, as json.dumps met them
    return b"".join(part for pair in zip(parts, [*spliced, b""], strict=True) for part in pair)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return NON_FINITE.get(value, "NaN")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


_TOO_LONG = "The body holds a number with too many digits"


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise NotStrictJson(f"The body names the key {twice[:64]!r} twice in one object")
    return document


def _refuse_constant(name: str) -> Any:
    raise NotStrictJson(f"The body holds {name}, which is not JSON (send a string or null)")


def _int(text: str) -> int:
    number = int(text)
    if abs(number) > MAX_NUMBER:
        raise NotStrictJson(f"The body holds an integer of {len(text)} digits, beyond a double's range")
    return number


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise NotStrictJson(f"The body holds the number {text[:20]}, beyond a double's range")
    return number


def _may_hold_surrogates(raw: bytes | str) -> bool:
    """Valid UTF-8 cannot carry a surrogate: only an escape such as \\ud800 can (a cheap pre-check)."""
    needle = b"\\u" if isinstance(raw, bytes) else "\\u"
    return needle in raw  # type: ignore[operator]


def _refuse_surrogates(value: Any, where: str) -> None:
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"a key in {where}")
            _refuse_surrogates(item, key if where == "(body)" else f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_surrogates(item, f"{where}.{index}")


def _check_text(text: str, where: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise NotStrictJson(f"{where} holds a lone surrogate (\\ud800-\\udfff), which is not text") from None
