"""The error codes of a call sent through :mod:`connector_proxy.sdk.http.sending` (the http connector's
and the OpenAPI connectors'; listed in the http connector's README and docs/openapi.md)."""

from connector_proxy.sdk.errors import ErrorCode

HTTP_ERROR = ErrorCode(
    "HttpError<status>",
    "The upstream answered with status >= 300 (HttpError404, HttpError503...);"
    " the body holds what it said. 429 and 5xx are transient.",
    status=None,
)
TIMEOUT = ErrorCode("Timeout", "The upstream did not answer within the timeout or the call's deadline.", 504)
CONNECTION_FAILED = ErrorCode(
    "ConnectionFailed", "The upstream could not be reached (refused, reset, unknown name).", 502
)
TLS_ERROR = ErrorCode("TlsError", "The TLS handshake with the upstream failed (certificate, protocol).", 502)
TOO_MANY_REDIRECTS = ErrorCode(
    "TooManyRedirects", "The upstream redirected more than max_redirects times.", 508
)
RESPONSE_TOO_LARGE = ErrorCode(
    "ResponseTooLarge",
    "The upstream's body is over max_response_bytes; http_status is the upstream's.",
    status=None,
)
DESTINATION_BLOCKED = ErrorCode(
    "DestinationBlocked",
    "The destination (or a redirect's) is refused by the destinations policy in plugins.toml.",
    403,
)
INVALID_URL = ErrorCode(
    "InvalidUrl", "The URL cannot be requested (no host, or a scheme other than http/https).", 400
)

ALL = (
    HTTP_ERROR,
    TIMEOUT,
    CONNECTION_FAILED,
    TLS_ERROR,
    TOO_MANY_REDIRECTS,
    RESPONSE_TOO_LARGE,
    DESTINATION_BLOCKED,
    INVALID_URL,
)
