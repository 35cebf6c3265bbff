from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from connector_proxy.calls import envelope
from connector_proxy.sdk import CommandError, Context, ErrorCode, Result, TaskLog

FAMILY = ErrorCode("HttpError<status>", "The upstream failed.", status=None)


@pytest.mark.parametrize(
    ("status", "transient"), [(400, False), (404, False), (429, True), (500, True), (None, None)]
)
def test_transient_follows_the_hosts_retry_rule(status: int | None, transient: bool | None) -> None:
    assert ErrorCode("Code", "", status).transient is transient


def test_a_family_code_is_filled_in_with_the_status() -> None:
    error = CommandError(FAMILY, "gone", http_status=410)

    assert (error.error_code, error.http_status) == ("HttpError410", 410)


def test_a_code_without_a_status_needs_one_when_raised() -> None:
    with pytest.raises(ValueError, match="pass http_status"):
        CommandError(FAMILY, "which status?")


def test_the_declared_status_is_the_default() -> None:
    error = CommandError(ErrorCode("Busy", "", 503), "later")

    assert error.http_status == 503
    assert envelope.from_error(error) == {
        "command_response": {"body": {}, "mimetype": "application/json", "http_status": 503},
        "error": {"error_code": "Busy", "message": "later"},
        "command_response_version": 2,
        "spiff__logs": [],
    }


def test_task_log_lines_go_to_the_envelope_and_the_daemon_log(caplog: pytest.LogCaptureFixture) -> None:
    task_log = TaskLog(logging.getLogger("connector_proxy.connectors.test"), task_id="t-1")
    with caplog.at_level(logging.INFO):
        task_log.info("fetched %s rows", 3)
        task_log.warning("slow")

    assert task_log.lines == ["[INFO] fetched 3 rows", "[WARNING] slow"]
    assert "task t-1: fetched 3 rows" in caplog.text


def test_seconds_left_never_goes_negative() -> None:
    context = Context(
        config={}, resources=None, log=TaskLog(logging.getLogger("t")), deadline=time.monotonic() - 5
    )

    assert context.seconds_left() == 0.0


def test_a_result_defaults_to_json_and_200() -> None:
    assert envelope.from_result(Result({"a": 1}), ["line"])["command_response"] == {
        "body": {"a": 1},
        "mimetype": "application/json",
        "http_status": 200,
    }


def test_the_sdk_namespace_needs_only_the_standard_library() -> None:
    """An isolated connector's environment has connector_proxy and nothing else of ours: importing the
    SDK (and running a command through invoke) must load no third-party module until outbound is used.
    Names starting with "_" are the interpreter's and pip's (``__main__``, editable-install finders)."""
    probe = (
        "import sys, connector_proxy.sdk, connector_proxy.isolation.worker;"
        "tops = {name.split('.')[0] for name in sys.modules if not name.startswith('_')};"
        "print(sorted(tops - set(sys.stdlib_module_names) - {'connector_proxy'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_after_cursor_neither_misses_nor_repeats_items_sharing_an_instant() -> None:
    from connector_proxy.sdk import after_cursor

    # dicts as items, three sharing one instant (S3's whole seconds): they are never compared
    listed = [(at, name, {"key": name}) for at, name in [("10", "b"), ("10", "a"), ("09", "z"), ("10", "c")]]

    first, cursor = after_cursor(listed, None, limit=2)
    assert [item["key"] for item in first] == ["z", "a"] and cursor == {"at": "10", "names": ["a"]}
    second, cursor = after_cursor(listed, cursor, limit=2)
    assert [item["key"] for item in second] == ["b", "c"] and cursor == {"at": "10", "names": ["b", "c", "a"]}
    later = [*listed, ("10", "d", {"key": "d"}), ("11", "e", {"key": "e"})]  # a late one at the same second
    third, cursor = after_cursor(later, cursor, limit=10)
    assert [item["key"] for item in third] == ["d", "e"] and cursor == {"at": "11", "names": ["e"]}
    assert after_cursor(later, cursor, limit=10) == ([], cursor)


def test_a_webhook_subscribes_and_unsubscribes_as_a_pair() -> None:
    from connector_proxy.sdk import Connector, HmacSignature

    shop = Connector("shop")
    with pytest.raises(ValueError, match="subscribe and unsubscribe come as a pair"):
        shop.webhook("order", verifier=HmacSignature(), subscribe=lambda ctx, url, secret: {})
    shop.webhook(
        "order",
        verifier=HmacSignature(),
        subscribe=lambda ctx, url, secret: {},
        unsubscribe=lambda ctx, registration: None,
        registers=lambda settings: "api" in settings,
    )(lambda ctx, request: [])
    trigger = shop.triggers["order"]
    assert trigger.registered_with({"api": "x"}) and not trigger.registered_with({})
