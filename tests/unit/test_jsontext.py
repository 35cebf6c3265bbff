"""jsontext.loads reads with msgspec first and with Python's json when it must: the two readers
agree on every document the fast one accepts, and everything the rules refuse is still refused."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector_proxy.host import jsontext

TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)  # no lone surrogates
NUMBERS = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
)
DOCUMENTS = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=30,
)


def both(raw: bytes) -> tuple[Any, Any]:
    fast = jsontext._fast_loads(raw)
    try:
        strict: Any = jsontext._strict_loads(raw)
    except jsontext.NotStrictJson as refused:
        strict = refused
    return fast, strict


@settings(max_examples=300, deadline=None)
@given(document=DOCUMENTS, spaced=st.booleans())
def test_whatever_the_fast_reader_accepts_the_strict_one_reads_the_same(document: Any, spaced: bool) -> None:
    try:
        raw = json.dumps(document, indent=1 if spaced else None, ensure_ascii=spaced).encode()
    except ValueError:
        return  # an integer Python will not write: not a document of this test
    fast, strict = both(raw)
    if isinstance(strict, Exception):
        assert fast is None  # what the strict reader refuses (an integer beyond a double) stays refused
        return
    if fast is not None:
        assert json.dumps(fast.document) == json.dumps(strict)  # the same values, the same key order
    assert json.dumps(jsontext.loads(raw)) == json.dumps(strict)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 2}',
        b'{"x": {"a": "1:2", "b": [], "a": "3"}}',
        b'[{"k": 1}, {"k": {"a": 1, "a": 1}}]',
        b'{"a": {"deep": {"b": 1}}, "a": "x"}',
        b'{"a\\u003a": 1, "a:": 2}',  # the same key, once escaped: the strict reader must see it
    ],
)
def test_a_key_twice_is_refused_however_it_hides(raw: bytes) -> None:
    fast, strict = both(raw)

    assert fast is None
    assert isinstance(strict, jsontext.NotStrictJson) and "twice" in str(strict)
    with pytest.raises(jsontext.NotStrictJson, match="twice"):
        jsontext.loads(raw)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"[NaN]", "NaN"),
        (b"[-Infinity]", "Infinity"),
        (b"[1e400]", "1e400"),
        (b"[" + b"9" * 400 + b"]", "400 digits"),
        (b"[" + b"9" * 5000 + b"]", "too many digits"),
        (b'{"q": ["\\ud800"]}', "q.0"),
        (b'["\\udc00"]', "lone surrogate"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"a": "\xe9"}', "not UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    ],
)
def test_what_the_rules_refuse_is_refused_with_the_strict_readers_words(raw: bytes, words: str) -> None:
    with pytest.raises(jsontext.NotStrictJson, match=words.replace(".", r"\.")):
        jsontext.loads(raw)


def test_integers_near_a_doubles_limit_are_read_exactly_or_refused() -> None:
    below = 10**308  # 309 digits, within a double's range: the strict reader decides, and keeps it
    above = 2 * 10**308

    assert jsontext.loads(f"[{below}]".encode()) == [below]
    with pytest.raises(jsontext.NotStrictJson, match="309 digits"):
        jsontext.loads(f"[{above}]".encode())
    assert jsontext.loads(b"[1e-400, -0, 1.5e300]") == [0.0, 0, 1.5e300]
    assert math.isfinite(jsontext.loads(b"[1.7976931348623157e308]")[0])
