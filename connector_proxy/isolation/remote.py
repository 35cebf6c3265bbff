"""An isolated connector, as the registry sees it: a Connector described by its worker.

Discovery asks one worker for its description (the handshake's hello), so the
catalog, validation and the envelope are the daemon's own, exactly as for an
in-process connector; it binds each command to :func:`forwarding`, which runs
it in the pool and reads the answer back as the SDK's invocation value.
``setup`` configures that same probe worker (a failing setup is reported at
start-up), then hands each daemon process a pool.
"""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from connector_proxy.config import NO_LIMITS, WorkerLimits
from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import (
    WORKER_CRASHED,
    WORKER_LIMIT_EXCEEDED,
    WORKER_PROTOCOL_ERROR,
    WORKER_TIMED_OUT,
    WORKER_UNAVAILABLE,
    outbound_refusal,
)
from connector_proxy.host.interfaces import SDK
from connector_proxy.isolation.pool import WorkerPool, WorkerUnavailable
from connector_proxy.isolation.process import WorkerGone, WorkerOverLimit, WorkerProcess, WorkerTimedOut
from connector_proxy.isolation.protocol import ProtocolError, events_from_wire, events_to_wire
from connector_proxy.sdk import tracing
from connector_proxy.sdk.auth import AUTH_FIELDS, OAuth2
from connector_proxy.sdk.connector import Check, Command, Connector, Typeahead
from connector_proxy.sdk.context import Accepted, Context, RefreshedTokens, Result
from connector_proxy.sdk.errors import CommandError, ErrorCode
from connector_proxy.sdk.invocation import Crashed, Invocation, Raised, Refused, Returned
from connector_proxy.sdk.triggers import POLLER, WEBHOOK, Event, InboundRequest, Trigger, Verifier

WEBHOOK_SECONDS = 5.0  # a verification's deadline: the sender waits for the 202
WORKER_ERRORS = (
    WORKER_CRASHED,
    WORKER_TIMED_OUT,
    WORKER_PROTOCOL_ERROR,
    WORKER_UNAVAILABLE,
    WORKER_LIMIT_EXCEEDED,
)


def worker_command(
    name: str, python: str | None, program: tuple[str, ...], built: tuple[str, str, str] | None = None
) -> tuple[str, ...]:
    """Our worker under another interpreter, or the operator's program as given. ``built``: the
    connector is built there by a factory, from a source, with its table in a configuration file."""
    if program:
        return program
    return (python or sys.executable, "-m", "connector_proxy.isolation.worker", name, *(built or ()))


def isolated_connector(
    name: str, command: tuple[str, ...], workers: int, cwd: Path | None, limits: WorkerLimits = NO_LIMITS
) -> tuple[Connector, str]:
    """Describe the connector by asking a worker, and the interface it was written to; raises if it
    cannot (the caller reports it)."""
    probe = WorkerProcess(name, command, cwd=cwd)
    try:
        description = probe.handshake(None)
    except BaseException:
        probe.kill()
        raise
    if description.get("name") != name:
        probe.kill()
        raise ProtocolError(f"the worker describes connector {description.get('name')!r}, not {name!r}")

    pools: dict[str, WorkerPool] = {}  # the pool, once set up: an isolated verifier asks it

    def setup(config: Mapping[str, Any]) -> WorkerPool:
        try:
            ready = probe.configure(config)
        finally:
            probe.close()
        for declared in ready.get("auths") or []:  # the daemon runs the browser's sign-in with these
            auth = OAuth2(
                **{key: _as_declared(key, declared.get(key)) for key in AUTH_FIELDS if key in declared}
            )
            connector.auths[auth.name] = auth
        pools["pool"] = WorkerPool(name, command, config, workers, cwd, limits)
        return pools["pool"]

    connector = Connector(
        name=name,
        description=str(description.get("description", "")),
        version=description.get("version"),
        config_schema=description.get("config_schema") or {"type": "object"},
        setup=setup,
    )
    for entry in description.get("commands", []):
        declared = tuple(
            ErrorCode(e["code"], e.get("description", ""), e.get("status")) for e in entry.get("errors", [])
        )
        connector.commands[entry["name"]] = Command(
            name=entry["name"],
            function=_runs_in_its_worker,
            parameters=entry.get("parameters") or {"type": "object"},
            description=str(entry.get("description", "")),
            errors=declared + WORKER_ERRORS,
            aliases=tuple(entry.get("aliases", ())),
            asynchronous=bool(entry.get("asynchronous", False)),
            calls_back=bool(entry.get("calls_back", False)),
            deprecated=_text_or_none(entry.get("deprecated")),  # optional: older workers send none
            replaced_by=_text_or_none(entry.get("replaced_by")),
            since=_text_or_none(entry.get("since")),
            output=entry.get("output") if isinstance(entry.get("output"), dict) else None,
            operation=entry.get("operation") if isinstance(entry.get("operation"), dict) else None,
        )
    for entry in description.get("typeaheads", []):  # optional: older workers describe none
        category = str(entry["name"])
        connector.typeaheads[category] = Typeahead(
            category, suggesting(category), str(entry.get("description", ""))
        )
    for entry in description.get("triggers", []):
        if entry.get("kind") == WEBHOOK:
            connector.triggers[str(entry["name"])] = _webhook_trigger(entry, pools)
        elif entry.get("kind") == POLLER:
            connector.triggers[str(entry["name"])] = _polling_trigger(entry)
    if isinstance(description.get("check"), dict):
        connector.live_check = Check(checking, str(description["check"].get("description", "")))
    return connector, str(description.get("interface") or SDK)


def _as_declared(key: str, value: Any) -> Any:
    """A field of an OAuth declaration as OAuth2 holds it (JSON has lists, not tuples)."""
    if key == "scopes":
        return tuple(value or ())
    if key == "authorize_params":
        return dict(value or {})
    return value


def _webhook_trigger(entry: Mapping[str, Any], pools: dict[str, WorkerPool]) -> Trigger:
    """An isolated webhook: its verifier and function run in a worker; the daemon keeps the order
    (verify, check the payload, extract), storage and delivery."""
    name = str(entry["name"])
    payload = entry.get("payload")
    # without a payload to check between them, the worker verifies as it receives: one round trip
    verifier: Verifier = verifying(name, pools) if payload is not None else _verified_as_received
    subscribes = bool(entry.get("subscribes"))
    secret = entry.get("generated_secret")
    return Trigger(
        name,
        WEBHOOK,
        receiving(name, verify=payload is None),
        str(entry.get("description", "")),
        settings=entry.get("settings") or {"type": "object"},
        payload=payload,
        verifier=verifier,
        subscribe=subscribing(name) if subscribes else None,
        unsubscribe=unsubscribing(name) if subscribes else None,
        generated_secret=str(secret) if subscribes and isinstance(secret, str) else None,
        registers=AskedRegisters(name, pools) if subscribes and entry.get("registers") else None,
    )


class AskedRegisters:
    """An isolated trigger's ``registers(settings)``: asked of a worker once per settings in each daemon
    process. The daemon asks only where the pool serves (a worker's registrar or a request), never in
    gunicorn's master, where a worker started would be shared by every fork."""

    asks_a_worker = True  # the daemon's start-up takes its answer as "perhaps" rather than ask

    def __init__(self, trigger: str, pools: dict[str, WorkerPool]) -> None:
        self.trigger = trigger
        self.pools = pools
        self._answers: dict[bytes, bool] = {}  # by the settings as JSON: a subscription's are fixed

    def __call__(self, settings: Mapping[str, Any]) -> bool:
        key = jsontext.dumps(dict(settings), as_stored=True)
        if key not in self._answers:
            pool = self.pools["pool"]
            message = {"type": "registers", "trigger": self.trigger, "settings": dict(settings)}
            context = {"seconds_left": WEBHOOK_SECONDS, "request_id": None}
            said = _answered(
                pool,
                f"{pool.name} trigger {self.trigger}",
                {**message, "context": context},
                time.monotonic() + WEBHOOK_SECONDS,
            )
            self._answers[key] = bool(said)
        return self._answers[key]


def subscribing(trigger: str) -> Callable[[Context, str, str | None], Any]:
    """An isolated webhook set up at its source by a worker: the registration it answered."""

    def subscribe(ctx: Context, url: str, secret: str | None) -> Any:
        pool: WorkerPool = ctx.resources
        message: dict[str, Any] = {"type": "subscribe", "trigger": trigger, "url": url, "secret": secret}
        message |= {"settings": dict(ctx.settings), "context": _context_of(ctx)}
        return _answered(pool, f"{pool.name} trigger {trigger}", message, ctx.deadline)

    return subscribe


def unsubscribing(trigger: str) -> Callable[[Context, Any], None]:
    """An isolated webhook torn down at its source by a worker."""

    def unsubscribe(ctx: Context, registration: Any) -> None:
        pool: WorkerPool = ctx.resources
        message: dict[str, Any] = {"type": "unsubscribe", "trigger": trigger, "registration": registration}
        message |= {"settings": dict(ctx.settings), "context": _context_of(ctx)}
        _answered(pool, f"{pool.name} trigger {trigger}", message, ctx.deadline)

    return unsubscribe


def _verified_as_received(settings: Mapping[str, Any], request: InboundRequest, now: float) -> None:
    """The verifier of an isolated webhook with no payload schema: ``receive`` verifies first."""
    del settings, request, now  # the worker has them with the request it receives


def _polling_trigger(entry: Mapping[str, Any]) -> Trigger:
    """An isolated poller: each poll runs in a worker, under the daemon's lease and with its cursor;
    the daemon stores the events and the cursor, then has the worker acknowledge them."""
    name = str(entry["name"])
    return Trigger(
        name,
        POLLER,
        polling(name),
        str(entry.get("description", "")),
        settings=entry.get("settings") or {"type": "object"},
        acknowledge=acknowledging(name) if entry.get("acknowledges") else None,
    )


def polling(trigger: str) -> Callable[[Context, Any], tuple[list[Event], Any]]:
    def poll(ctx: Context, cursor: Any) -> tuple[list[Event], Any]:
        pool: WorkerPool = ctx.resources
        message = {"type": "poll", "trigger": trigger, "settings": dict(ctx.settings), "cursor": cursor}
        context = _context_of(ctx)
        found = _answered(
            pool, f"{pool.name} trigger {trigger}", {**message, "context": context}, ctx.deadline
        )
        if not isinstance(found, dict) or not isinstance(found.get("events"), list):
            raise _worker_error(pool.name, ProtocolError("a poll must answer its events and cursor"))
        return events_from_wire(found["events"]), found.get("cursor")

    return poll


def acknowledging(trigger: str) -> Callable[[Context, list[Event]], None]:
    def acknowledge(ctx: Context, events: list[Event]) -> None:
        pool: WorkerPool = ctx.resources
        message = {
            "type": "acknowledge",
            "trigger": trigger,
            "settings": dict(ctx.settings),
            "events": events_to_wire(events),
        }
        context = _context_of(ctx)
        _answered(pool, f"{pool.name} trigger {trigger}", {**message, "context": context}, ctx.deadline)

    return acknowledge


def verifying(trigger: str, pools: dict[str, WorkerPool]) -> Verifier:
    """An isolated trigger's verifier: asks a worker of the connector's pool (known once set up)."""

    def verify(settings: Mapping[str, Any], request: InboundRequest, now: float) -> None:
        pool = pools["pool"]
        message = {"type": "verify", **_webhook_request(trigger, settings, request), "now": now}
        _answered(pool, f"{pool.name} trigger {trigger}", message, time.monotonic() + WEBHOOK_SECONDS)

    return verify


def receiving(trigger: str, verify: bool) -> Callable[[Context, InboundRequest], list[Event] | None]:
    """An isolated trigger's function: the worker turns the request into events (``verify``: after
    verifying it, when no payload check stands between the two)."""

    def receive(ctx: Context, request: InboundRequest) -> list[Event] | None:
        pool: WorkerPool = ctx.resources
        message = {
            "type": "receive",
            **_webhook_request(trigger, ctx.settings, request),
            "json": request.json,
            "context": _context_of(ctx),
            **({"verify": True, "now": time.time()} if verify else {}),
        }
        found = _answered(pool, f"{pool.name} trigger {trigger}", message, ctx.deadline)
        if not isinstance(found, list):
            return None  # the daemon says the trigger returned no events, as for one in-process
        return events_from_wire(found)

    return receive


def _context_of(ctx: Context) -> dict[str, Any]:
    """What a typeahead's or a trigger's request tells the worker of its context."""
    return {
        "seconds_left": ctx.seconds_left(),
        "request_id": ctx.request_id,
        "traceparent": tracing.traceparent(),
    }


def _webhook_request(trigger: str, settings: Mapping[str, Any], request: InboundRequest) -> dict[str, Any]:
    body = base64.b64encode(request.body).decode()
    return {"trigger": trigger, "settings": dict(settings), "body": body, "headers": dict(request.headers)}


def _answered(pool: WorkerPool, where: str, message: dict[str, Any], deadline: float) -> Any:
    """The body a worker answered, or what it raised, raised here as it would be in-process."""
    try:
        answer = pool.ask(message, deadline)
    except (WorkerTimedOut, WorkerGone, ProtocolError, WorkerUnavailable) as trouble:
        raise _worker_error(where, trouble) from None
    match invocation_of(answer, {}):
        case Returned(result):
            return result.body
        case Raised(error):
            raise error
        case Refused(kind, reason):
            raise outbound_refusal(kind, reason)
        case Crashed(exception, _message):
            raise WorkerRaised(exception)
    raise AssertionError("unreachable")


class WorkerRaised(Exception):
    """An isolated connector's typeahead, verifier or trigger raised: the daemon answers as for one
    in-process, naming the exception."""

    def __init__(self, exception: str) -> None:
        super().__init__(exception)
        self.exception_name = exception


def suggesting(category: str) -> Callable[[Context, str, int], list[Any]]:
    """An isolated category's function: asks one of the pool's workers (the bound resources)."""

    def suggest(ctx: Context, prefix: str, limit: int) -> list[Any]:
        pool: WorkerPool = ctx.resources
        request = {"type": "suggest", "category": category, "prefix": prefix, "limit": limit}
        context = _context_of(ctx)
        found = _answered(
            pool, f"{pool.name} typeahead {category}", {**request, "context": context}, ctx.deadline
        )
        if not isinstance(found, list):
            raise _worker_error(pool.name, ProtocolError("suggestions must be a JSON list"))
        return found

    return suggest


def checking(ctx: Context) -> str | None:
    """An isolated connector's live check: asks one of the pool's workers (the bound resources)."""
    pool: WorkerPool = ctx.resources
    request = {"type": "check", "context": _context_of(ctx)}
    said = _answered(pool, f"{pool.name} live check", request, ctx.deadline)
    return said if isinstance(said, str) else None


def forwarding(pool: WorkerPool, command: Command) -> Callable[[Context, dict[str, Any]], Invocation]:
    """How the daemon runs ``command`` of an isolated connector: in one of ``pool``'s workers."""
    by_code = {code.code: code for code in command.errors}

    def forward(ctx: Context, parameters: dict[str, Any]) -> Invocation:
        try:
            task_data = dict(ctx.task_data)  # read here: the worker is handed it checked
        except CommandError as refused:
            return Raised(refused)
        context = {
            "task_id": ctx.task_id,
            "process_instance_id": ctx.process_instance_id,
            "process_model_identifier": ctx.process_model_identifier,
            "task_data": task_data,
            "callback_url": ctx.callback_url,
            "request_id": ctx.request_id,
            "seconds_left": ctx.seconds_left(),
            "traceparent": tracing.traceparent(),  # the worker's spans join the call's trace
        }
        try:
            answer = pool.call(command.name, parameters, context, ctx.deadline)
        except (WorkerTimedOut, WorkerGone, ProtocolError, WorkerUnavailable) as trouble:
            return Raised(_worker_error(f"{pool.name}/{command.name}", trouble))
        ctx.log.lines.extend(str(line) for line in answer.get("logs", []))
        ctx.refreshed.extend(
            RefreshedTokens(str(r.get("secret")), r.get("token_set") or {}, str(r.get("given") or ""))
            for r in answer.get("refreshed", [])
        )
        return invocation_of(answer, by_code)

    return forward


def _worker_error(where: str, trouble: Exception) -> CommandError:
    if isinstance(trouble, WorkerOverLimit):
        return CommandError(WORKER_LIMIT_EXCEEDED, f"{where}: {trouble}; the worker was replaced")
    if isinstance(trouble, WorkerTimedOut):
        return CommandError(
            WORKER_TIMED_OUT, f"{where} gave no answer by its deadline; its worker was replaced"
        )
    if isinstance(trouble, WorkerGone):
        return CommandError(WORKER_CRASHED, f"{where}: {trouble}; the worker will be replaced")
    if isinstance(trouble, ProtocolError):
        return CommandError(WORKER_PROTOCOL_ERROR, f"{where}: {trouble}; the worker was replaced")
    return CommandError(WORKER_UNAVAILABLE, str(trouble))


def invocation_of(answer: dict[str, Any], by_code: Mapping[str, ErrorCode]) -> Invocation:
    """What a worker's answer says came of the call: the inverse of the worker's ``message_of``."""
    kind = answer["type"]
    if kind == "result":
        made = Accepted if answer.get("accepted") else Result
        body, status = answer.get("body"), int(answer.get("http_status", 200))
        return Returned(made(body, status, str(answer.get("mimetype", "application/json"))))
    if kind == "error":
        given = answer.get("http_status")
        concrete = str(answer.get("error_code"))
        declared = by_code.get(str(answer.get("declared")))
        code = declared or ErrorCode(concrete, "", given)
        message = str(answer.get("message", ""))
        # a family's member (<PackageErrorCode>, <AwsErrorCode>) is the code the worker answered
        error = CommandError(code, message, http_status=given, body=answer.get("body"), concrete=concrete)
        return Raised(error)
    if kind == "refused":
        return Refused(str(answer.get("kind", "busy")), str(answer.get("message", "")))
    return Crashed(str(answer.get("exception", "Exception")), str(answer.get("message", "")))


def _runs_in_its_worker(ctx: Context, **parameters: Any) -> Any:
    """An isolated command's function: the daemon binds it to :func:`forwarding` instead, never calls this."""
    raise RuntimeError("an isolated command runs in its worker, through its connector's pool")


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
