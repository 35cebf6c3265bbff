"""A call's task data is carried unread: whatever a call reads, it reads as the strict reader would,
everything refused is still refused (on arrival, or when the task data is first read), and what is
written out or stored holds the task data's own text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st

from connector_proxy.host import jsontext, task_data
from connector_proxy.jobs.model import Job
from connector_proxy.sdk.errors import CommandError
from connector_proxy.secrets.record_encryption import Sealer

TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=10)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def read_both(raw: bytes) -> tuple[Any, Any]:
    """(read_call's answer with the task data read, or its refusal; the strict reader's, or its refusal)."""
    try:
        document = task_data.read_call(raw)
        data = document.get(task_data.TASK_DATA) if isinstance(document, dict) else None
        if isinstance(data, task_data.CarriedObject):
            document = {**document, task_data.TASK_DATA: data.document}
    except (jsontext.NotStrictJson, CommandError) as refused:
        document = refused
    try:
        strict: Any = jsontext.loads(raw)
    except jsontext.NotStrictJson as refused:
        strict = refused
    return document, strict


@settings(max_examples=200, deadline=None)
@given(parameters=st.dictionaries(TEXT, VALUES, max_size=4), data=st.dictionaries(TEXT, VALUES))
def test_a_call_reads_as_the_strict_reader_reads_it(parameters: dict[str, Any], data: Any) -> None:
    raw = json.dumps({**parameters, task_data.TASK_DATA: data}, ensure_ascii=False).encode()
    document, strict = read_both(raw)
    assert not isinstance(strict, Exception)
    assert json.dumps(document) == json.dumps(strict)


REFUSED_ON_ARRIVAL = [
    b'{"spiff__task_data": {"a": NaN}}',
    b'{"spiff__task_data": {"a": "\\ud800"}}',
    b'{"spiff__task_data": {"a": "\xff"}}',
    b'{"spiff__task_data": {"a": "\x01"}}',
    b'{"spiff__task_data": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
    b'{"spiff__task_data": {"a": [1,]}}',
    b'{"spiff__task_data": {}, "spiff__task_data": {"a": 1}}',
    b'{"q": 1, "q": 2, "spiff__task_data": {"a": 1}}',
    b'{"q": 1e400, "spiff__task_data": {"a": 1}}',
]


@pytest.mark.parametrize("raw", REFUSED_ON_ARRIVAL)
def test_what_the_scan_can_tell_is_refused_on_arrival_with_the_strict_readers_words(raw: bytes) -> None:
    with pytest.raises(jsontext.NotStrictJson) as refused:
        task_data.read_call(raw)
    with pytest.raises(jsontext.NotStrictJson) as strict:
        jsontext.loads(raw)
    assert str(refused.value) == str(strict.value)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"spiff__task_data": {"a": 1, "a": 2}}', "'a' twice"),
        (b'{"spiff__task_data": {"a": 1e400}}', "1e400"),
        (b'{"spiff__task_data": {"a": ' + b"9" * 400 + b"}}", "400 digits"),
    ],
)
def test_what_needs_the_objects_is_refused_when_the_task_data_is_read(raw: bytes, why: str) -> None:
    data = task_data.read_call(raw)[task_data.TASK_DATA]
    assert isinstance(data, task_data.CarriedObject)
    with pytest.raises(CommandError) as refused:
        dict(data)
    assert refused.value.error_code == "InvalidRequestBody"
    assert refused.value.http_status == 400
    assert str(refused.value).startswith("spiff__task_data: ") and why in str(refused.value)
    with pytest.raises(CommandError):  # nor is it ever written out as it came
        jsontext.dumps({"echo": data})


def test_the_task_data_is_written_as_it_came() -> None:
    raw = b'{"id": 7, "spiff__task_data": {"b": [1, 2.50], "a": "\xc3\xa9"}}'
    document = task_data.read_call(raw)
    assert document["id"] == 7
    written = jsontext.dumps({"echo": document[task_data.TASK_DATA], "then": 1})
    assert written == b'{"echo":{"b": [1, 2.50], "a": "\xc3\xa9"},"then":1}'
    assert json.loads(written)["echo"] == {"b": [1, 2.5], "a": "é"}


def test_a_parameter_holding_the_same_text_under_the_same_key_is_not_mistaken_for_it() -> None:
    raw = b'{"p": {"spiff__task_data": {"a": 1}}, "spiff__task_data": {"a": 1}}'
    document = task_data.read_call(raw)
    assert document["p"] == {"spiff__task_data": {"a": 1}}
    assert dict(document[task_data.TASK_DATA]) == {"a": 1}


@pytest.mark.parametrize("keys", [(), (Fernet.generate_key().decode(),)], ids=["clear", "sealed"])
def test_a_jobs_record_keeps_the_task_datas_text(keys: tuple[str, ...]) -> None:
    sealer = Sealer(keys)
    payload = task_data.read_call(b'{"name": "Ada", "spiff__task_data": {"rows": [{"id": 1}, {"id": 2}]}}')
    job = Job("sample/Greet", payload, "task-1", None)
    read = Job.from_json(job.to_json(sealer), sealer)
    data = read.payload[task_data.TASK_DATA]
    assert isinstance(data, task_data.CarriedObject)
    assert data.raw == b'{"rows": [{"id": 1}, {"id": 2}]}'
    assert read.payload["name"] == "Ada"
    assert Job.from_json(read.to_json(sealer), sealer).payload == payload
