"""What a SpiffWorkflow package's command answers, turned into a Result or a CommandError.

Three shapes exist in the wild: the v2 envelope itself; the v1 dict
``{"response": str | dict, "status": int, "mimetype": str}``; and a v1 dict
whose ``response`` is a v2 envelope (``CommandResultDictV2``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connector_proxy.legacy.error_codes import PACKAGE_ERROR, PACKAGE_HTTP_ERROR, PACKAGE_INVALID_ANSWER
from connector_proxy.sdk.context import Result
from connector_proxy.sdk.errors import CommandError

JSON_MIMETYPE = "application/json"
UNSTATED_FAILURE = 500  # a package that reports an error without a status: it failed, reason unknown


def logs_of(answer: Any) -> list[str]:
    """The ``spiff__logs`` a package answered, wherever the shape keeps them."""
    envelope = _envelope_of(answer) if isinstance(answer, Mapping) else None
    lines = (envelope or {}).get("spiff__logs") or []
    return [str(line) for line in lines] if isinstance(lines, list) else []


def result_of(answer: Any, where: str) -> Result:
    """The answer as our Result; an error, or a status >= 300, raises the CommandError the host sees."""
    if not isinstance(answer, Mapping):
        raise CommandError(PACKAGE_INVALID_ANSWER, f"{where} answered {type(answer).__name__}, not a dict")
    envelope = _envelope_of(answer)
    if envelope is not None:
        return _from_v2(envelope, where)
    if "response" in answer:
        return _from_v1(answer, where)
    raise CommandError(
        PACKAGE_INVALID_ANSWER, f"{where} answered a dict with neither 'command_response' nor 'response'"
    )


def _envelope_of(answer: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if "command_response" in answer or "command_response_version" in answer:
        return answer
    inner = answer.get("response")
    if isinstance(inner, Mapping) and "command_response" in inner:
        return inner
    return None


def _from_v2(envelope: Mapping[str, Any], where: str) -> Result:
    response = envelope.get("command_response")
    response = response if isinstance(response, Mapping) else {}
    mimetype = _text(response.get("mimetype"), JSON_MIMETYPE)
    body = _body(response.get("body"), mimetype)
    status = _status(response.get("http_status"))
    error = envelope.get("error")
    if error:
        problem = error if isinstance(error, Mapping) else {"message": str(error)}
        code = _text(problem.get("error_code"), PACKAGE_ERROR.code)
        message = _text(problem.get("message"), f"{where} reported {code}")
        failed = status if status >= 400 else UNSTATED_FAILURE
        raise CommandError(PACKAGE_ERROR, message, http_status=failed, body=body, concrete=code)
    return _checked(Result(body, status, mimetype), where)


def _from_v1(answer: Mapping[str, Any], where: str) -> Result:
    mimetype = _text(answer.get("mimetype"), JSON_MIMETYPE)
    body = _body(answer.get("response"), mimetype)
    return _checked(Result(body, _status(answer.get("status")), mimetype), where)


def _checked(result: Result, where: str) -> Result:
    """The host fails a task on status >= 300; give it a code its modelers can catch."""
    if result.http_status >= 300:
        raise CommandError(
            PACKAGE_HTTP_ERROR,
            f"{where} answered status {result.http_status}",
            http_status=result.http_status,
            body=result.body,
        )
    return result


def _body(body: Any, mimetype: str) -> Any:
    """JSON text is parsed; other text is wrapped as the host's ``raw_response``."""
    if body is None:
        return {}
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str):
        return body
    if "json" in mimetype.lower():
        try:
            return json.loads(body)
        except ValueError:
            pass
    return {"raw_response": body}


def _status(value: Any) -> int:
    if isinstance(value, bool):
        return 200
    try:
        status = int(value)
    except (TypeError, ValueError):
        return 200
    return status if 100 <= status <= 599 else 200


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default
