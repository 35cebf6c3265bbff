"""Error codes and the one error type every failure travels in.

A code is part of the public API: BPMN modelers catch it with error boundary
events, so each one is declared once, with what it means and its status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUS_PLACEHOLDER = "<status>"


@dataclass(frozen=True)
class ErrorCode:
    """A documented error a command (or the daemon) can answer with.

    ``status`` is the ``http_status`` the envelope carries; ``None`` means the
    upstream's own status is passed on. A code containing ``<status>`` (such as
    ``HttpError<status>``) is a family: the status is filled in when raised.
    """

    code: str
    description: str
    status: int | None = 500

    @property
    def transient(self) -> bool | None:
        """Whether a host should retry: 429 and 5xx are, ``None`` means it depends."""
        if self.status is None:
            return None
        return is_transient(self.status)

    def describe(self) -> dict[str, Any]:
        """The catalog's view of this code."""
        return {
            "error_code": self.code,
            "description": self.description,
            "http_status": self.status,
            "transient": self.transient,
        }


def is_transient(status: int) -> bool:
    """The host's own rule: a failure with 429 or 5xx may succeed on retry."""
    return status == 429 or status >= 500


class OutboundRefusal(Exception):
    """A call the SDK's outbound limits refused before it reached its origin.

    ``kind`` is ``busy`` (the origin is stuck at its cap) or ``line_timeout``
    (the deadline passed in line); the daemon answers its own documented code
    for each, whichever connector made the call and wherever it runs.
    """

    kind = "busy"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CommandError(Exception):
    """Raised to answer with an error envelope instead of a result.

    The status comes from the declared code unless given; ``body`` lets a
    command hand back what the upstream said alongside the error.
    Never put a secret in ``message``: it reaches the host and its logs.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        http_status: int | None = None,
        body: Any = None,
        details: Any = None,
        concrete: str | None = None,
    ) -> None:
        super().__init__(message)
        status = http_status if http_status is not None else code.status
        if status is None:
            raise ValueError(f"{code.code} has no fixed status: pass http_status")
        self.declared = code
        self.message = message
        self.http_status = status
        self.body = body
        self.details = details  # structured detail for clients, e.g. each bad field
        self.concrete = concrete  # for a family like <AwsErrorCode>: the code the service gave

    @property
    def error_code(self) -> str:
        """The concrete code: the service's own for a family like ``<AwsErrorCode>``,
        else the declared one with a family's ``<status>`` filled in."""
        if self.concrete:
            return self.concrete
        return self.declared.code.replace(STATUS_PLACEHOLDER, str(self.http_status))


CHECK_FAILED = ErrorCode(
    "CheckFailed", "A connector's live check found its credentials or destinations not working", 503
)


class CheckFailed(CommandError):
    """Raised by a connector's live check (``@connector.check``) to say what does not work.

    The message is shown to operators (the page, ``connector-proxy check --live``): say what was
    tried and what answered, never a secret.
    """

    def __init__(self, message: str) -> None:
        super().__init__(CHECK_FAILED, message)
