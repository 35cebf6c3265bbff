"""The host's v2 envelope: the one builder every answer goes through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector_proxy.sdk.context import RefreshedTokens, Result
from connector_proxy.sdk.errors import CommandError

Envelope = dict[str, Any]
VERSION = 2


def from_result(result: Result, logs: Sequence[str] = ()) -> Envelope:
    """A completed command's answer."""
    return _build(result.body, result.http_status, result.mimetype, None, logs)


def from_error(error: CommandError, logs: Sequence[str] = ()) -> Envelope:
    """A failure; ``command_response.body`` is always present for the host."""
    problem: dict[str, Any] = {"error_code": error.error_code, "message": error.message}
    if error.details is not None:
        problem["details"] = error.details
    body = error.body if error.body is not None else {}
    return _build(body, error.http_status, "application/json", problem, logs)


def unauthenticated(error: CommandError) -> dict[str, Any]:
    """A 401, in the shape the host's published protocol gives it: ``error`` is the message (a string),
    the declared code beside it."""
    return {"error": error.message, "error_code": error.error_code}


def _build(
    body: Any, status: int, mimetype: str, error: dict[str, Any] | None, logs: Sequence[str]
) -> Envelope:
    return {
        "command_response": {"body": body, "mimetype": mimetype, "http_status": status},
        "error": error,
        "command_response_version": VERSION,
        "spiff__logs": list(logs),
    }


def with_refreshed_tokens(envelope: Envelope, refreshed: RefreshedTokens, command_id: str) -> Envelope:
    """The answer after a token refresh: the same v2 envelope, so the host fails or completes the task
    as it would without the refresh, with the set for its secret ``auth`` beside it. The host puts
    ``api_response`` verbatim in the task's result variable: it is what it puts there from a plain
    answer (``command_response`` and ``operator_identifier``). No ``spiff__logs``: with them at the top
    the SpiffWorkflow backend replaces the answer by ``api_response`` and never stores the set."""
    answer = {key: value for key, value in envelope.items() if key != "spiff__logs"}
    answer["api_response"] = {**envelope["command_response"], "operator_identifier": command_id}
    answer["refreshed_token_set"] = dict(refreshed.token_set)
    answer["auth"] = refreshed.secret
    return answer
