"""The codes a SpiffWorkflow package's answers are given, declared once (docs/http-api.md lists them).

Kept apart from the daemon's other codes so that an isolated worker, which
has only the standard library, can load packages without the daemon's HTTP stack.
"""

from __future__ import annotations

from connector_proxy.sdk.errors import ErrorCode

PACKAGE_ERROR = ErrorCode(
    "<PackageErrorCode>",
    "A SpiffWorkflow connector package answered an error: the code is the package's own"
    " (its http_status, or 500 when it gave none below 400).",
    status=None,
)
PACKAGE_HTTP_ERROR = ErrorCode(
    "HttpError<status>",
    "A SpiffWorkflow connector package answered a status >= 300 without an error; the body is its answer.",
    status=None,
)
PACKAGE_INVALID_ANSWER = ErrorCode(
    "PackageAnswerInvalid",
    "A SpiffWorkflow connector package's command answered something that is neither the v1 nor the v2 shape.",
    status=502,
)

ALL = (PACKAGE_ERROR, PACKAGE_HTTP_ERROR, PACKAGE_INVALID_ANSWER)
