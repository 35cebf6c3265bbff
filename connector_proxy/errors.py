"""The daemon's own error codes: the one place they are declared.

Connectors declare theirs on their Connector and commands; these are the
codes any call can meet before or around a command. The README lists them.
"""

from __future__ import annotations

from connector_proxy.sdk.errors import ErrorCode

INVALID_PARAMETERS = ErrorCode(
    "InvalidParameters",
    "A parameter is missing, unknown or of the wrong type; the message names every one.",
    status=400,
)
INVALID_REQUEST_BODY = ErrorCode("InvalidRequestBody", "The request body is not a JSON object.", status=400)
UNAUTHORIZED = ErrorCode(
    "Unauthorized",
    "The Spiff-Connector-Proxy-Api-Key header is missing or matches no configured key.",
    status=401,
)
COMMAND_NOT_FOUND = ErrorCode(
    "command_not_found",
    "No enabled connector offers this command (the code SpiffWorkflow's proxy uses).",
    status=404,
)
NOT_FOUND = ErrorCode("NotFound", "No such endpoint.", status=404)
METHOD_NOT_ALLOWED = ErrorCode(
    "MethodNotAllowed", "The endpoint exists but not for this HTTP method.", status=405
)
PAYLOAD_TOO_LARGE = ErrorCode(
    "PayloadTooLarge", "The request body is over limits.max_body_bytes.", status=413
)
INTERNAL_ERROR = ErrorCode("InternalError", "The daemon failed outside any command; see its log.", status=500)
COMMAND_CRASHED = ErrorCode(
    "<ExceptionClass>",
    "An exception escaped a command: the code is the exception's class name, the"
    " message its text; the traceback is in the daemon's log only.",
    status=500,
)

DAEMON_ERRORS: tuple[ErrorCode, ...] = (
    INVALID_PARAMETERS,
    INVALID_REQUEST_BODY,
    UNAUTHORIZED,
    COMMAND_NOT_FOUND,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    PAYLOAD_TOO_LARGE,
    INTERNAL_ERROR,
    COMMAND_CRASHED,
)
