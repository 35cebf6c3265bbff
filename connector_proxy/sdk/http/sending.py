"""Send one request with retries, within the limits and the call's deadline.

Nothing here logs or reports a header, a query string, a path or a body:
they may hold the host's secrets. Messages name the method and the origin.
"""

from __future__ import annotations

import json
import time
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from urllib3 import BaseHTTPResponse, HTTPHeaderDict, Timeout, encode_multipart_formdata
from urllib3.exceptions import (
    LocationParseError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ResponseError,
    SSLError,
    TimeoutError,
    URLSchemeUnknown,
)
from urllib3.util import Retry

from connector_proxy.sdk.context import Context, Result
from connector_proxy.sdk.destinations import DestinationBlocked, parse_destination
from connector_proxy.sdk.errors import CommandError, is_transient
from connector_proxy.sdk.http import errors
from connector_proxy.sdk.http.decoding import decode_body
from connector_proxy.sdk.http.settings import HttpResources
from connector_proxy.sdk.outbound import BodyLate, BodyTooLarge, failure_reason, origin_of, read_body
from connector_proxy.sdk.retrying import backoff

# RFC 9110: a header name is a token; a value is Latin-1 text without control characters (http.client
# would otherwise fail while sending, or a CR/LF would split the request)
HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
HEADER_VALUE = "^[\\t\\u0020-\\u007e\\u0080-\\u00ff]*$"
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRIED_ERRORS = (errors.TIMEOUT, errors.CONNECTION_FAILED)


@dataclass(frozen=True)
class Outgoing:
    """One validated call of an http command."""

    method: str
    url: str
    headers: Mapping[str, str]
    params: Mapping[str, Any] | None = None
    data: Any = None
    body_format: str = "json"  # json, form, multipart, raw or none
    auth: tuple[str, str] | None = None
    timeout: float = 30.0
    attempts: int = 1
    retry_non_idempotent: bool = False
    include_response_headers: bool = False
    # False: a 3xx is the answer (an error naming where it pointed), never followed. For a request
    # whose body holds a secret: a 307/308 would carry the body, secret and all, to any origin.
    follow_redirects: bool = True

    @property
    def origin(self) -> str:
        return origin_of(self.url)


@dataclass(frozen=True)
class Upstream:
    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes


def send(ctx: Context, outgoing: Outgoing) -> Result:
    """Send with up to ``attempts`` tries: retries on connection errors, 429 and 5xx."""
    check_url(outgoing.url)
    retry_allowed = outgoing.method in IDEMPOTENT or outgoing.retry_non_idempotent
    for attempt in range(1, outgoing.attempts + 1):
        may_retry = retry_allowed and attempt < outgoing.attempts
        try:
            upstream = _exchange(ctx, outgoing, attempt)
        except CommandError as error:
            ctx.log.warning("%s (attempt %s of %s)", error.message, attempt, outgoing.attempts)
            if may_retry and error.declared in RETRIED_ERRORS and _pause(ctx, attempt, None):
                continue
            raise
        retry_after = upstream.headers.get("Retry-After")
        if may_retry and is_transient(upstream.status) and _pause(ctx, attempt, retry_after):
            continue
        return _result(outgoing, upstream)
    raise AssertionError("unreachable: the last attempt returns or raises")


def check_url(url: str) -> None:
    """Refuse, before anything is sent, a URL that cannot be requested; the message never quotes it."""
    try:
        parse_destination(url)
    except ValueError as problem:
        raise CommandError(errors.INVALID_URL, f"url: {problem}") from None


def _exchange(ctx: Context, outgoing: Outgoing, attempt: int) -> Upstream:
    resources: HttpResources = ctx.resources
    timeout = min(outgoing.timeout, resources.max_timeout, ctx.seconds_left())
    if timeout <= 0:
        raise CommandError(
            errors.TIMEOUT, f"{outgoing.method} {outgoing.origin}: no time left before the deadline"
        )
    deadline = time.monotonic() + timeout
    started = time.perf_counter()
    body, headers = _encoded(outgoing, resources.default_headers)
    try:
        response = resources.pool.urlopen(
            outgoing.method,
            _with_params(outgoing.url, outgoing.params),
            body=body,
            headers=headers,
            timeout=Timeout(connect=min(resources.connect_timeout, timeout), read=timeout),
            retries=_redirects(resources, headers),
            redirect=outgoing.follow_redirects,
            pool_timeout=timeout,  # a wait in line for a busy origin ends with the attempt
            preload_content=False,
        )
        try:
            content = _read(response, resources.max_response_bytes, deadline, outgoing)
        finally:
            _release(response)
    except CommandError:
        raise
    except Exception as error:
        raise _translate(error, outgoing, timeout) from None
    elapsed = (time.perf_counter() - started) * 1000
    ctx.log.info(
        "%s %s answered %s in %.0f ms (attempt %s of %s)",
        outgoing.method,
        outgoing.origin,
        response.status,
        elapsed,
        attempt,
        outgoing.attempts,
    )
    return Upstream(response.status, response.reason or "", response.headers, content)


def _redirects(resources: HttpResources, headers: HTTPHeaderDict) -> Retry:
    """Every header not known to be safe stays behind when a redirect leads to another origin:
    a caller's API key may travel in any header name."""
    unsafe = [name for name in headers if name.lower() not in resources.safe_across_origins]
    if not unsafe:
        return resources.redirects
    return resources.redirects.new(remove_headers_on_redirect=unsafe)


def _with_params(url: str, params: Mapping[str, Any] | None) -> str:
    """Add query parameters as requests does: lists repeat the key, None leaves it out."""
    if not params:
        return url
    pairs = [
        (key, item)
        for key, value in params.items()
        for item in (value if isinstance(value, list) else [value])
        if item is not None
    ]
    parts = urlsplit(url)
    query = "&".join(part for part in (parts.query, urlencode(pairs)) if part)
    return urlunsplit(parts._replace(query=query))


def _encoded(outgoing: Outgoing, defaults: Mapping[str, str]) -> tuple[bytes | None, HTTPHeaderDict]:
    """The body as bytes and the headers it needs; the call's own headers win."""
    headers = HTTPHeaderDict(defaults)
    body: bytes | None = None
    content_type = None
    if outgoing.data is not None and outgoing.body_format == "json":
        body = json.dumps(outgoing.data, allow_nan=False).encode()
        content_type = "application/json"
    elif outgoing.data is not None and outgoing.body_format == "raw":
        body = str(outgoing.data).encode()
    elif outgoing.data is not None and outgoing.body_format == "form":
        body = urlencode(outgoing.data, doseq=True).encode()
        content_type = "application/x-www-form-urlencoded"
    elif outgoing.data is not None and outgoing.body_format == "multipart":
        body, content_type = encode_multipart_formdata(_parts(outgoing.data))
    if content_type:
        headers["Content-Type"] = content_type
    for name, value in outgoing.headers.items():
        headers[name] = value  # replaces a default of any case
    if outgoing.auth:  # explicit basic auth wins over an Authorization header, as in requests
        token = b64encode(":".join(outgoing.auth).encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return body, headers


def _parts(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """multipart/form-data fields: text as is, other JSON values as JSON text, lists repeated."""
    return [
        (name, item if isinstance(item, str) else json.dumps(item))
        for name, value in data.items()
        for item in (value if isinstance(value, list) else [value])
    ]


def _read(response: BaseHTTPResponse, limit: int, deadline: float, outgoing: Outgoing) -> bytes:
    """The body, whole, by the deadline: a body that trickles in is cut there, not read for ever."""
    try:  # a HEAD answer declares the length of a body it does not send
        return read_body(response, deadline, limit, declared_length=outgoing.method != "HEAD")
    except BodyTooLarge:
        raise _too_large(response, limit, outgoing) from None
    except BodyLate:
        raise _late(outgoing) from None


def _late(outgoing: Outgoing) -> CommandError:
    return CommandError(
        errors.TIMEOUT, f"{outgoing.method} {outgoing.origin}: the body did not arrive in time"
    )


def _release(response: BaseHTTPResponse) -> None:
    """Give the connection's slot back; a body not read to its end closes the connection first."""
    if not response.closed:
        response.close()
    response.release_conn()


def _too_large(response: BaseHTTPResponse, limit: int, outgoing: Outgoing) -> CommandError:
    return CommandError(
        errors.RESPONSE_TOO_LARGE,
        f"{outgoing.method} {outgoing.origin}: the response is over {limit} bytes",
        http_status=response.status,
    )


def _translate(error: Exception, outgoing: Outgoing, timeout: float) -> CommandError:
    """urllib3's exceptions carry the URL (and its query); ours carry the origin only."""
    where = f"{outgoing.method} {outgoing.origin}"
    cause = error.reason if isinstance(error, MaxRetryError) and error.reason else error
    if isinstance(cause, DestinationBlocked):
        return CommandError(errors.DESTINATION_BLOCKED, f"{where}: {cause}")
    if isinstance(cause, TimeoutError) and not isinstance(cause, NewConnectionError):  # urllib3 nests them
        return CommandError(errors.TIMEOUT, f"{where}: no answer within {timeout:g} s")
    if isinstance(cause, SSLError):
        return CommandError(errors.TLS_ERROR, f"{where}: the TLS handshake failed")
    if isinstance(cause, ResponseError):
        return CommandError(errors.TOO_MANY_REDIRECTS, f"{where}: too many redirects")
    if isinstance(cause, (URLSchemeUnknown, LocationParseError, LocationValueError)):
        return CommandError(errors.INVALID_URL, f"{where}: the URL (or a redirect's) cannot be requested")
    if isinstance(cause, (ProtocolError, OSError)) or isinstance(error, MaxRetryError):
        return CommandError(errors.CONNECTION_FAILED, f"{where}: {failure_reason(cause)}")
    raise error


def _pause(ctx: Context, attempt: int, retry_after: str | None) -> bool:
    """Sleep before the next attempt if the deadline allows; False if it does not."""
    delay = backoff(attempt, first=0.5, cap=8.0)
    if retry_after and retry_after.strip().isdigit():
        delay = float(retry_after)
    if delay >= ctx.seconds_left() - 0.1:
        return False
    ctx.log.info("retrying in %.1f s", delay)
    time.sleep(delay)
    return True


def _unfollowed(outgoing: Outgoing, upstream: Upstream) -> str:
    """Where a redirect not followed pointed: its origin only (its path and query may hold tokens)."""
    location = upstream.headers.get("Location")
    if outgoing.follow_redirects or not 300 <= upstream.status < 400 or not location:
        return ""
    try:
        target = origin_of(urljoin(outgoing.url, location))
    except ValueError:  # a Location no URL can be made of: named as such, never quoted
        target = "(an unreadable URL)"
    return f" (a redirect to {target}, not followed)"


def _result(outgoing: Outgoing, upstream: Upstream) -> Result:
    body = decode_body(upstream.content, upstream.headers.get("Content-Type", ""))
    if outgoing.include_response_headers:
        body = {"body": body, "headers": dict(upstream.headers)}
    if upstream.status >= 300:
        said = f"{outgoing.method} {outgoing.origin} answered {upstream.status} {upstream.reason}".rstrip()
        raise CommandError(
            errors.HTTP_ERROR,
            said + _unfollowed(outgoing, upstream),
            http_status=upstream.status,
            body=body,
        )
    return Result(body, http_status=upstream.status)
