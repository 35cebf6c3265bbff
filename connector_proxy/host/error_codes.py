"""The daemon's own error codes: the one place they are declared.

Connectors declare theirs on their Connector and commands; these are the
codes any call can meet before or around a command. docs/http-api.md lists them.
"""

from __future__ import annotations

from connector_proxy.legacy.error_codes import PACKAGE_ERROR, PACKAGE_HTTP_ERROR, PACKAGE_INVALID_ANSWER
from connector_proxy.sdk.auth import OAUTH_NOT_CONFIGURED, OAUTH_PROVIDER_ERROR, TOKEN_SET_INVALID
from connector_proxy.sdk.errors import CommandError, ErrorCode
from connector_proxy.sdk.triggers import INVALID_SIGNATURE, REQUEST_EXPIRED

INVALID_PARAMETERS = ErrorCode(
    "InvalidParameters",
    "A parameter is missing, unknown or of the wrong type; the message names every one.",
    status=400,
)
BAD_REQUEST = ErrorCode("BadRequest", "The request is malformed at the HTTP level.", status=400)
INVALID_REQUEST_BODY = ErrorCode(
    "InvalidRequestBody",
    "The request body is not a strict JSON object: not UTF-8 (or with a byte order mark), not JSON, nested"
    " over ~900 levels, or holding NaN, Infinity, a number beyond a double's range, a lone surrogate"
    " (\\ud800) or a key twice in one object.",
    status=400,
)
INVALID_CALLBACK_URL = ErrorCode(
    "InvalidCallbackUrl",
    "spiff__callback_url is not an http(s) URL, or its host is outside jobs.callback_allow or refused"
    " by the callback destination policy; the job is not accepted.",
    status=400,
)
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
CONNECTOR_UNAVAILABLE = ErrorCode(
    "ConnectorUnavailable",
    "The command's connector is configured but was left out (not installed, failed to import, invalid"
    " configuration or setup); the message names its state. Transient: once the operator mends it, a reload"
    " (SIGHUP) serves it.",
    status=503,
)
NOT_FOUND = ErrorCode("NotFound", "No such endpoint.", status=404)
CONNECTOR_NOT_FOUND = ErrorCode("ConnectorNotFound", "No connector of this name is installed.", status=404)
INBOUND_BUSY = ErrorCode(
    "InboundBusy",
    "This worker is already reading and verifying events.max_unverified webhook requests: retry later."
    " Transient; it keeps unverified senders from crowding out authenticated calls.",
    status=503,
)
JOB_ABANDONED = ErrorCode(
    "JobAbandoned",
    "The job was started more than jobs.max_starts times and never finished (its process died under"
    " it each time, a poison job): it is failed, not run again.",
    status=500,
)
JOB_NOT_FOUND = ErrorCode(
    "JobNotFound", "No job has this id (never accepted, or removed after jobs.keep_finished).", status=404
)
JOB_CANCELLED = ErrorCode(
    "JobCancelled",
    "An operator cancelled the job before it ran (POST /v1/jobs/<id>/cancel); its command never ran.",
    status=409,
)
JOB_NOT_CANCELLABLE = ErrorCode(
    "JobNotCancellable", "Only a queued job can be cancelled: a worker has started this one.", status=409
)
CALLBACK_NOT_RESENDABLE = ErrorCode(
    "CallbackNotResendable",
    "The job has no callback to send again: it is not finished, has no callback URL, or its delivery"
    " is under way.",
    status=409,
)
RELAY_NOT_FOUND = ErrorCode(
    "RelayNotFound",
    "PUT /v1/relay/<job>: no job of this id waits for a result, or the URL's key is not its key.",
    status=404,
)
RELAY_TIMED_OUT = ErrorCode(
    "RelayTimedOut",
    "The command handed its result off to PUT it back itself (a SpiffWorkflow package's execute_async)"
    " and had not by jobs.command_timeout: the job fails, and the host is told.",
    status=504,
)
STORE_UNAVAILABLE = ErrorCode(
    "StoreUnavailable",
    "The store of jobs and events could not write (its disk is full, it is read-only, or Redis refused):"
    " nothing was kept, nothing half-written. Transient: retry once the operator has made room;"
    " GET /v1/readiness says so meanwhile.",
    status=503,
)
NOT_READY = ErrorCode(
    "NotReady",
    "GET /v1/readiness: an enabled connector is not ready (left out, or no isolated worker up), a"
    " subscription was left out, or the job store does not answer; details lists each problem.",
    status=503,
)
METHOD_NOT_ALLOWED = ErrorCode(
    "MethodNotAllowed", "The endpoint exists but not for this HTTP method.", status=405
)
REQUEST_TIMEOUT = ErrorCode(
    "RequestTimeout",
    "The request body did not arrive within limits.body_timeout; the connection is closed.",
    status=408,
)
PAYLOAD_TOO_LARGE = ErrorCode(
    "PayloadTooLarge",
    "The request body is over limits.max_body_bytes (a webhook's: events.max_body_bytes).",
    status=413,
)
HTTP_REFUSAL = ErrorCode(
    "Http<status>",
    "Another refusal at the HTTP level, e.g. Http414 (URI too long) or Http431 (headers too large).",
    status=None,
)
INTERNAL_ERROR = ErrorCode("InternalError", "The daemon failed outside any command; see its log.", status=500)
COMMAND_CRASHED = ErrorCode(
    "CommandCrashed",
    "An unexpected exception escaped a command (a bug in the connector): the message names the"
    " exception's class only; its text and traceback are in the daemon's log.",
    status=500,
)
UNRENDERABLE_ANSWER = ErrorCode(
    "UnrenderableAnswer",
    "The command's answer cannot be written as JSON (nested deeper than about 900 levels); it is"
    " dropped and this error stands in its place.",
    status=500,
)

DESTINATION_BUSY = ErrorCode(
    "DestinationBusy",
    "The origin is stuck: it holds destinations.max_concurrent calls in this worker and none of them"
    " started or ended for destinations.stuck_after seconds; refused at once so others keep flowing."
    " Transient: retry later.",
    503,
)
DESTINATION_TIMEOUT = ErrorCode(
    "DestinationTimeout",
    "The call's deadline passed while it waited in line for a connection to an origin already at"
    " destinations.max_concurrent calls. Transient: retry later.",
    504,
)
# the SDK's outbound limits name a kind of refusal; these are the daemon's codes for them
OUTBOUND_REFUSALS = {"busy": DESTINATION_BUSY, "line_timeout": DESTINATION_TIMEOUT}

WORKER_CRASHED = ErrorCode(
    "WorkerCrashed", "An isolated connector's worker exited during the call; it is replaced.", status=502
)
WORKER_TIMED_OUT = ErrorCode(
    "WorkerTimedOut",
    "An isolated connector's worker gave no answer by the call's deadline; it was killed and is replaced.",
    status=504,
)
WORKER_PROTOCOL_ERROR = ErrorCode(
    "WorkerProtocolError",
    "An isolated connector's worker wrote something that is not the protocol; it was killed and is replaced.",
    status=502,
)
WORKER_LIMIT_EXCEEDED = ErrorCode(
    "WorkerLimitExceeded",
    "An isolated connector's worker reached its memory_bytes or cpu_seconds during the call: the call"
    " is answered so, the worker replaced; the connector's other workers keep serving. Transient.",
    status=503,
)
WORKER_UNAVAILABLE = ErrorCode(
    "WorkerUnavailable",
    "No worker of the isolated connector could be had: they fail to start (retried with backoff) or"
    " all stayed busy until the deadline.",
    status=503,
)

PROXY_UNAVAILABLE = ErrorCode(
    "ProxyUnavailable",
    "The other connector proxy serving this command ([proxies.<name>]) cannot be reached, dropped the"
    " connection during the call, or its catalog has not been read yet; the message names it. Transient:"
    " the call may not have run, retry later.",
    status=503,
)
PROXY_TIMEOUT = ErrorCode(
    "ProxyTimeout",
    "The other connector proxy serving this command gave no whole answer within proxies.<name>.timeout"
    " (or the call's deadline). Transient: the call may have run there.",
    status=504,
)
PROXY_INVALID_ANSWER = ErrorCode(
    "ProxyInvalidAnswer",
    "The other connector proxy answered something that is not an answer to pass on: an HTML page, a redirect"
    " (never followed), over proxies.<name>.max_response_bytes, or a refusal of our proxies.<name>.api_key.",
    status=502,
)
PROXY_CHAIN = ErrorCode(
    "ProxyChain",
    "The call came through another connector proxy for a command this daemon would pass on again: chains"
    " of proxies are refused, so no call can go round in a loop. Not transient: the operators' configurations"
    " must change.",
    status=421,
)
# what a call to a command of another connector proxy may be answered with, at its own status
PROXY_FAILURES: tuple[ErrorCode, ...] = (PROXY_UNAVAILABLE, PROXY_TIMEOUT, PROXY_INVALID_ANSWER, PROXY_CHAIN)

AUTH_NOT_FOUND = ErrorCode("AuthNotFound", "No enabled connector offers this auth.", status=404)
SIGN_IN_NOT_OFFERED = ErrorCode(
    "SignInNotOffered",
    "The auth is a client-credentials grant: its token is the daemon's own machine identity, used by"
    " commands, and never leaves the daemon; no browser signs in to it.",
    status=403,
)
REDIRECT_NOT_ALLOWED = ErrorCode(
    "RedirectNotAllowed",
    "redirect_url is missing or matches none of oauth.redirect_urls: the browser is not sent there.",
    status=400,
)
OAUTH_STATE_INVALID = ErrorCode(
    "OAuthStateInvalid",
    "The sign-in came back without a state this browser started, or after oauth.state_ttl: start again.",
    status=400,
)
OAUTH_DENIED = ErrorCode(
    "OAuthDenied", "The provider sent the browser back with an error (the user refused, say).", status=403
)
INVALID_MODEL = ErrorCode(
    "InvalidModel",
    "POST /v1/validate: a file is not well-formed XML, holds a DTD or entities (refused: no expansion,"
    " no external reference), or is not BPMN (no definitions root), or no file was sent; the message"
    " names the file and the cause.",
    status=400,
)
TYPEAHEAD_NOT_FOUND = ErrorCode("TypeaheadNotFound", "No enabled connector offers this category.", status=404)
SUBSCRIPTION_NOT_FOUND = ErrorCode(
    "SubscriptionNotFound",
    "POST /v1/inbound/…: no enabled subscription of this webhook trigger has this name (or, without a"
    " name, the trigger has not exactly one).",
    status=404,
)
INVALID_EVENT = ErrorCode(
    "InvalidEvent",
    "POST /v1/inbound/…: the body is not the JSON the trigger declares, or lacks what the subscription's"
    " payload mapping reads; the message names the field or the pointer. Nothing is stored.",
    status=400,
)
TRIGGER_FAILED = ErrorCode(
    "TriggerFailed",
    "A trigger's function raised an unexpected exception or returned something other than events (a bug"
    " in the connector); its class is named, the rest is in the daemon's log. Nothing is stored.",
    status=500,
)
EVENT_NOT_DEAD = ErrorCode(
    "EventNotDead",
    "POST /v1/events/<id>/retry: the event is pending or delivered; only a dead one is sent again.",
    status=409,
)
SUBSCRIPTION_NOT_REGISTERED = ErrorCode(
    "SubscriptionNotRegistered",
    "POST /v1/subscriptions/<name>/register: no subscription of that name is configured whose trigger"
    " sets itself up at its source.",
    status=404,
)
EVENT_NOT_FOUND = ErrorCode(
    "EventNotFound",
    "No event has this id (never stored, or removed after events.keep_delivered).",
    status=404,
)

# what a call that passed validation may still be answered with, at its own status
CALL_FAILURES: tuple[ErrorCode, ...] = (
    COMMAND_CRASHED,
    UNRENDERABLE_ANSWER,
    WORKER_CRASHED,
    WORKER_TIMED_OUT,
    WORKER_PROTOCOL_ERROR,
    WORKER_UNAVAILABLE,
    WORKER_LIMIT_EXCEEDED,
    PACKAGE_ERROR,
    PACKAGE_HTTP_ERROR,
    PACKAGE_INVALID_ANSWER,
)

# what a webhook's request may be answered with instead of 202
WEBHOOK_REFUSALS: tuple[ErrorCode, ...] = (
    SUBSCRIPTION_NOT_FOUND,
    INBOUND_BUSY,
    INVALID_SIGNATURE,
    REQUEST_EXPIRED,
    INVALID_EVENT,
    TRIGGER_FAILED,
)

DAEMON_ERRORS: tuple[ErrorCode, ...] = (
    BAD_REQUEST,
    INVALID_PARAMETERS,
    INVALID_REQUEST_BODY,
    INVALID_CALLBACK_URL,
    UNAUTHORIZED,
    COMMAND_NOT_FOUND,
    CONNECTOR_UNAVAILABLE,
    NOT_FOUND,
    JOB_NOT_FOUND,
    JOB_ABANDONED,
    RELAY_NOT_FOUND,
    RELAY_TIMED_OUT,
    STORE_UNAVAILABLE,
    NOT_READY,
    METHOD_NOT_ALLOWED,
    REQUEST_TIMEOUT,
    PAYLOAD_TOO_LARGE,
    HTTP_REFUSAL,
    INTERNAL_ERROR,
    *CALL_FAILURES,
    DESTINATION_BUSY,
    DESTINATION_TIMEOUT,
    *PROXY_FAILURES,
    AUTH_NOT_FOUND,
    SIGN_IN_NOT_OFFERED,
    REDIRECT_NOT_ALLOWED,
    OAUTH_STATE_INVALID,
    OAUTH_DENIED,
    OAUTH_NOT_CONFIGURED,
    OAUTH_PROVIDER_ERROR,
    TOKEN_SET_INVALID,
    TYPEAHEAD_NOT_FOUND,
    INVALID_MODEL,
    *WEBHOOK_REFUSALS,
    EVENT_NOT_FOUND,
    EVENT_NOT_DEAD,
    SUBSCRIPTION_NOT_REGISTERED,
)
_BY_STATUS = {
    400: BAD_REQUEST,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    408: REQUEST_TIMEOUT,
    413: PAYLOAD_TOO_LARGE,
    500: INTERNAL_ERROR,
}


def command_not_found(command_id: str) -> CommandError:
    """The one answer for an id no enabled connector offers, at /do and in the catalog."""
    return CommandError(COMMAND_NOT_FOUND, f"No command {command_id!r} is available")


def connector_unavailable(command_id: str, state: str) -> CommandError:
    """A command whose connector the operator configured, left out: the host retries a 503. The state
    names why; its detail (an exception's text, perhaps a secret's) stays with the operator."""
    connector = command_id.partition("/")[0]
    return CommandError(
        CONNECTOR_UNAVAILABLE,
        f"{command_id}: connector {connector!r} is left out ({state}); GET /v1/connectors says why",
    )


def unrenderable_answer(problem: Exception) -> CommandError:
    """The error that stands in for an answer JSON cannot hold, on the line and in a job."""
    return CommandError(UNRENDERABLE_ANSWER, f"The command's answer is lost: {problem}")


def outbound_refusal(kind: str, reason: str) -> CommandError:
    """A call the SDK's outbound limits refused, in-process or in an isolated worker alike."""
    return CommandError(OUTBOUND_REFUSALS.get(kind, DESTINATION_BUSY), f"{reason}; retry later")


def command_crashed(command_id: str, exception: str) -> CommandError:
    """An exception escaped a command; only its class is named (its text may carry a secret)."""
    return CommandError(COMMAND_CRASHED, f"{command_id} failed unexpectedly ({exception}); see the log")


def http_refusal(status: int, message: str) -> CommandError:
    """An error raised by the HTTP machinery (Werkzeug or gunicorn), not by a route."""
    return CommandError(_BY_STATUS.get(status, HTTP_REFUSAL), message, http_status=status)
