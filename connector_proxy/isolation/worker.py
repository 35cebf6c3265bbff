"""Our worker for Python connectors: ``python -m connector_proxy.isolation.worker NAME``.

Started with another environment's interpreter, it finds connector ``NAME``
through that environment's entry points, or as a SpiffWorkflow connector
package ``connector_NAME`` there (the connector's code is unchanged),
then speaks the isolation protocol on stdin and stdout. Anything the
connector prints goes to stderr, which the daemon copies to its log.
"""

from __future__ import annotations

import base64
import logging
import os
import sys
import time
import tomllib
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

from connector_proxy.host.interfaces import SDK, SPIFFWORKFLOW
from connector_proxy.isolation.protocol import (
    VERSION,
    ProtocolError,
    decode,
    encode,
    events_from_wire,
    events_to_wire,
)
from connector_proxy.legacy.packages import find_package, load_package
from connector_proxy.sdk import tracing
from connector_proxy.sdk.auth import AUTH_FIELDS, OAuth2
from connector_proxy.sdk.connector import Command, Connector, Typeahead
from connector_proxy.sdk.context import Accepted, Context, TaskLog
from connector_proxy.sdk.errors import CommandError, ErrorCode
from connector_proxy.sdk.factories import FACTORY_GROUP, CannotBuild, Recipe
from connector_proxy.sdk.invocation import Crashed, Invocation, Raised, Refused, Returned, guarded, invoke
from connector_proxy.sdk.triggers import POLLER, Event, InboundRequest
from connector_proxy.secrets import remember_secrets
from connector_proxy.telemetry import logs

GROUP = "connector_proxy.connectors"


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    protocol_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # stray prints (ours, the connector's, C libraries') must not corrupt the protocol
    sys.stdout = sys.stderr
    logs.configure(logging.INFO, "json")  # the daemon re-logs these records in its own format

    def send(message: dict[str, Any]) -> None:
        protocol_out.write(encode(message))

    if len(arguments) not in (1, 4):
        usage = "usage: python -m connector_proxy.isolation.worker NAME [FACTORY SOURCE CONFIG]"
        send({"type": "failed", "message": usage})
        return 2
    found = _find(arguments[0]) if len(arguments) == 1 else _build(*arguments)
    if isinstance(found, str):
        send({"type": "failed", "message": found})
        return 3
    connector, interface = found
    tracing.start(f"connector-proxy {connector.name}")  # as the daemon's environment asks, if it does
    send({"type": "hello", "protocol": VERSION, "connector": describe(connector, interface)})
    try:
        return _serve(connector, sys.stdin.buffer, send)
    finally:
        tracing.stop()  # its last spans are sent as it leaves


def _find(name: str) -> tuple[Connector, str] | str:
    """The connector and the interface it was found by, or why not."""
    for point in entry_points(group=GROUP):
        if point.name == name:
            try:
                loaded = point.load()
            except Exception as error:  # reported to the daemon, which leaves the connector out
                return f"import_error: {type(error).__name__}: {error}"
            return (loaded, SDK) if isinstance(loaded, Connector) else f"{point.value} is not a Connector"
    package = find_package(name)
    if package is not None:
        try:
            return load_package(package), SPIFFWORKFLOW
        except Exception as error:  # reported to the daemon, which leaves the connector out
            return f"import_error: {type(error).__name__}: {error}"
    return (
        f"no entry point {name!r} in {GROUP} and no SpiffWorkflow package connector_{name}"
        f" in this environment ({sys.executable})"
    )


def _build(name: str, factory: str, source: str, config: str) -> tuple[Connector, str] | str:
    """A connector built here by an installed factory (``connector_proxy.factories``), from ``source``
    and the connector's table read from the configuration file (secrets never pass on a command line)."""
    points = [point for point in entry_points(group=FACTORY_GROUP) if point.name == factory]
    if not points:
        return f"no factory {factory!r} in {FACTORY_GROUP} in this environment ({sys.executable})"
    path = Path(config)
    try:
        table = tomllib.loads(path.read_text()).get("connectors", {}).get(name, {}).get("config", {})
        return points[0].load()(Recipe(name, source, path.parent, table)), SDK
    except CannotBuild as problem:  # reported to the daemon, which leaves the connector out
        return f"build_error: {problem}"
    except Exception as error:  # reported to the daemon, which leaves the connector out
        return f"import_error: {type(error).__name__}: {error}"


def describe(connector: Connector, interface: str = SDK) -> dict[str, Any]:
    """The handshake's description: everything the daemon needs to list and validate."""
    return {
        "name": connector.name,
        "interface": interface,
        "description": connector.description,
        "version": connector.version,
        "config_schema": connector.config_schema,
        "commands": [
            {
                "name": command.name,
                "description": command.description,
                "parameters": command.parameters,
                "errors": [
                    {"code": e.code, "description": e.description, "status": e.status} for e in command.errors
                ],
                "aliases": list(command.aliases),
                "asynchronous": command.asynchronous,
                "calls_back": command.calls_back,
                "deprecated": command.deprecated,
                "replaced_by": command.replaced_by,
                "since": command.since,
                "output": command.output,
                "operation": command.operation,  # optional: a command built from an OpenAPI document's
            }
            for command in connector.commands.values()
        ],
        "typeaheads": [
            {"name": typeahead.name, "description": typeahead.description}
            for typeahead in connector.typeaheads.values()
        ],
        "triggers": [
            {
                "name": trigger.name,
                "kind": trigger.kind,
                "description": trigger.description,
                "settings": trigger.settings,
                "payload": trigger.payload,
            }
            | ({"acknowledges": trigger.acknowledge is not None} if trigger.kind == POLLER else {})
            | (
                {
                    "subscribes": True,
                    "generated_secret": trigger.generated_secret,
                    "registers": trigger.registers is not None,  # the daemon asks `registers` then
                }
                if trigger.subscribe is not None
                else {}
            )
            for trigger in connector.triggers.values()
        ],
        "check": None if connector.live_check is None else {"description": connector.live_check.description},
    }


def _serve(connector: Connector, incoming: IO[bytes], send: Callable[[dict[str, Any]], None]) -> int:
    configure = decode(incoming.readline())
    if configure.get("type") != "configure":
        raise ProtocolError("expected configure")
    config = configure.get("config") or {}
    remember_secrets(connector.config_schema or {}, config)  # this process's log lines and spans mask them
    try:
        resources = connector.setup(config) if connector.setup else None
    except Exception as error:  # the connector's setup is its own code
        send({"type": "failed", "message": f"setup_error: {type(error).__name__}: {error}"})
        return 4
    # its sign-ins, known once it is set up (a SpiffWorkflow package's describe themselves from config)
    send({"type": "ready", "pid": os.getpid(), "auths": [_auth(auth) for auth in connector.auths.values()]})
    logger = logging.getLogger(f"connector_proxy.connectors.{connector.name}")
    for line in iter(incoming.readline, b""):
        message = decode(line)
        handler = HANDLERS.get(message["type"])
        if handler is None:
            continue  # a later version's message: ignored, as the protocol asks
        parent = (message.get("context") or {}).get("traceparent")  # the daemon's span for it
        named = f"worker {message['type']} {_subject(connector, message)}"
        with tracing.span(named, parent=parent, connector_proxy__connector=connector.name):
            answer = handler(connector, config, resources, logger, message)
        try:
            send(answer)
        except (TypeError, ValueError) as error:  # a body JSON cannot carry
            send(
                {
                    "type": "crash",
                    "id": answer["id"],
                    "exception": type(error).__name__,
                    "message": "the command's answer is not JSON",
                    "logs": answer["logs"],
                }
            )
    return 0


def _run(
    connector: Connector, config: Any, resources: Any, logger: logging.Logger, call: dict[str, Any]
) -> dict[str, Any]:
    context = call.get("context") or {}
    ctx = Context(
        config=config,
        resources=resources,
        log=TaskLog(logger, context.get("task_id")),
        deadline=time.monotonic() + float(context.get("seconds_left", 30)),
        task_data=context.get("task_data") or {},
        callback_url=context.get("callback_url"),
        task_id=context.get("task_id"),
        process_instance_id=context.get("process_instance_id"),
        process_model_identifier=context.get("process_model_identifier"),
        request_id=context.get("request_id"),
    )
    command: Command | None = connector.commands.get(call["command"])
    if command is None:
        unknown = CommandError(ErrorCode("UnknownCommand", "", 404), f"no command {call['command']!r}")
        invocation: Invocation = Raised(unknown)
    else:
        tracing.note(connector_proxy__command=f"{connector.name}/{command.name}", spiff__task_id=ctx.task_id)
        invocation = invoke(command, ctx, call.get("parameters") or {})
    return {
        "id": call.get("id"),
        **message_of(invocation),
        "logs": ctx.log.lines,
        "refreshed": [
            {"secret": r.secret, "token_set": dict(r.token_set), "given": r.given} for r in ctx.refreshed
        ],
    }


def _subject(connector: Connector, message: dict[str, Any]) -> str:
    """What a request is about, for its span's name: a command, a category, a trigger, or the check."""
    named = message.get("command") or message.get("category") or message.get("trigger")
    return f"{connector.name}/{named}" if named else connector.name


def _auth(auth: OAuth2) -> dict[str, Any]:
    """An OAuth declaration as data: the daemon runs the browser's sign-in with it."""
    return {name: getattr(auth, name) for name in AUTH_FIELDS}


def _context(
    config: Any, resources: Any, logger: logging.Logger, request: dict[str, Any], settings: Any = None
) -> Context:
    """What a typeahead or a trigger gets: the connector's config and resources, the request's deadline."""
    context = request.get("context") or {}
    return Context(
        config=config,
        resources=resources,
        log=TaskLog(logger),
        deadline=time.monotonic() + float(context.get("seconds_left", 5)),
        request_id=context.get("request_id"),
        settings=settings or {},
    )


def _suggest(
    connector: Connector, config: Any, resources: Any, logger: logging.Logger, request: dict[str, Any]
) -> dict[str, Any]:
    """A typeahead category's suggestions, answered as a call's result (or its error or crash)."""
    ctx = _context(config, resources, logger, request)
    typeahead = connector.typeaheads.get(str(request.get("category")))
    invocation: Invocation
    if typeahead is None:
        unknown = CommandError(
            ErrorCode("UnknownCategory", "", 404), f"no category {request.get('category')!r}"
        )
        invocation = Raised(unknown)
    else:
        invocation = _suggestions(
            typeahead, ctx, str(request.get("prefix", "")), int(request.get("limit", 100))
        )
    return {"id": request.get("id"), **message_of(invocation), "logs": ctx.log.lines}


def _suggestions(typeahead: Typeahead, ctx: Context, prefix: str, limit: int) -> Invocation:
    return guarded(
        ctx, f"typeahead {typeahead.name}", lambda: list(typeahead.function(ctx, prefix, limit))[:limit]
    )


def _webhook(
    connector: Connector, config: Any, resources: Any, logger: logging.Logger, request: dict[str, Any]
) -> dict[str, Any]:
    """A webhook's request, verified (``verify``) or turned into events (``receive``), by the trigger's
    own verifier and function; the daemon keeps the order, the payload check, storage and delivery."""
    trigger = connector.triggers.get(str(request.get("trigger")))
    settings = request.get("settings") or {}
    ctx = _context(config, resources, logger, request, settings)
    headers = _Headers(request.get("headers") or {})
    inbound = InboundRequest(
        base64.b64decode(str(request.get("body", ""))), headers, json=request.get("json")
    )
    invocation: Invocation
    if trigger is None or trigger.verifier is None:
        invocation = Raised(CommandError(ErrorCode("UnknownTrigger", "", 404), "no such webhook trigger"))
    elif request["type"] == "verify" or request.get("verify"):
        invocation = _verified(trigger.verifier, ctx, inbound, float(request.get("now", time.time())))
        if request["type"] == "receive" and isinstance(invocation, Returned):  # verified: now the events
            invocation = _events(trigger.function, ctx, inbound)
    else:
        invocation = _events(trigger.function, ctx, inbound)
    return {"id": request.get("id"), **message_of(invocation), "logs": ctx.log.lines}


def _poller(
    connector: Connector, config: Any, resources: Any, logger: logging.Logger, request: dict[str, Any]
) -> dict[str, Any]:
    """One poll (its events and the cursor after them), or the acknowledgement of a poll's events."""
    trigger = connector.triggers.get(str(request.get("trigger")))
    ctx = _context(config, resources, logger, request, request.get("settings") or {})
    invocation: Invocation
    if trigger is None or trigger.kind != POLLER:
        invocation = Raised(CommandError(ErrorCode("UnknownTrigger", "", 404), "no such polling trigger"))
    elif request["type"] == "poll":
        invocation = _polled(trigger.function, ctx, request.get("cursor"))
    else:
        events = events_from_wire(request.get("events") or [])
        invocation = _acknowledged(trigger.acknowledge, ctx, events)
    return {"id": request.get("id"), **message_of(invocation), "logs": ctx.log.lines}


def _registration(
    connector: Connector, config: Any, resources: Any, logger: logging.Logger, request: dict[str, Any]
) -> dict[str, Any]:
    """A webhook set up at its source (``subscribe``: the registration it answered) or torn down there
    (``unsubscribe``), by the trigger's own pair."""
    trigger = connector.triggers.get(str(request.get("trigger")))
    ctx = _context(config, resources, logger, request, request.get("settings") or {})
    invocation: Invocation
    if trigger is None or trigger.subscribe is None or trigger.unsubscribe is None:
        unknown = ErrorCode("UnknownTrigger", "", 404)
        invocation = Raised(CommandError(unknown, "no such trigger that registers itself"))
    elif request["type"] == "subscribe":
        subscribe = trigger.subscribe
        url, secret = str(request.get("url", "")), request.get("secret")
        invocation = guarded(ctx, "a subscription", lambda: subscribe(ctx, url, secret))
    else:
        unsubscribe, registration = trigger.unsubscribe, request.get("registration")
        invocation = guarded(ctx, "an unsubscription", lambda: unsubscribe(ctx, registration))
    return {"id": request.get("id"), **message_of(invocation), "logs": ctx.log.lines}


def _registers(
    connector: Connector, config: Any, resources: Any, logger: logging.Logger, request: dict[str, Any]
) -> dict[str, Any]:
    """Whether a subscription with these settings is set up at its source: the trigger's own
    ``registers`` (one whose hook the operator set up by hand is not)."""
    trigger = connector.triggers.get(str(request.get("trigger")))
    settings = request.get("settings") or {}
    ctx = _context(config, resources, logger, request, settings)
    invocation: Invocation
    if trigger is None or trigger.subscribe is None:
        unknown = ErrorCode("UnknownTrigger", "", 404)
        invocation = Raised(CommandError(unknown, "no such trigger that registers itself"))
    else:
        registered = trigger.registered_with
        invocation = guarded(ctx, "a registration's check", lambda: registered(settings))
    return {"id": request.get("id"), **message_of(invocation), "logs": ctx.log.lines}


def _check(
    connector: Connector, config: Any, resources: Any, logger: logging.Logger, request: dict[str, Any]
) -> dict[str, Any]:
    """The connector's live check: a result whose body is the line it said, or its error or crash."""
    ctx = _context(config, resources, logger, request)
    check = connector.live_check
    invocation: Invocation
    if check is None:
        invocation = Raised(CommandError(ErrorCode("NoCheck", "", 404), "the connector offers no live check"))
    else:
        invocation = guarded(ctx, "the live check", lambda: check.function(ctx))
    return {"id": request.get("id"), **message_of(invocation), "logs": ctx.log.lines}


def _polled(function: Any, ctx: Context, cursor: Any) -> Invocation:
    def poll() -> dict[str, Any]:
        events, after = function(ctx, cursor)
        return {"events": events_to_wire(events), "cursor": after}

    return guarded(ctx, "a poller", poll)


def _acknowledged(acknowledge: Any, ctx: Context, events: list[Event]) -> Invocation:
    return guarded(ctx, "an acknowledgement", lambda: acknowledge(ctx, events) if acknowledge else None)


class _Headers(dict[str, str]):
    """Header names compared without case, as the daemon's request headers are."""

    def __init__(self, pairs: dict[str, str]) -> None:
        super().__init__({str(name).lower(): str(value) for name, value in pairs.items()})

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return super().__contains__(str(name).lower())


def _verified(verifier: Any, ctx: Context, inbound: InboundRequest, now: float) -> Invocation:
    return guarded(ctx, "a verifier", lambda: verifier(ctx.settings, inbound, now))


def _events(function: Any, ctx: Context, inbound: InboundRequest) -> Invocation:
    def events() -> list[dict[str, Any]] | None:
        answer = function(ctx, inbound)
        found = [answer] if isinstance(answer, Event) else answer
        if not isinstance(found, list | tuple) or not all(isinstance(event, Event) for event in found):
            return None  # not events: the daemon says so, as for one in-process
        return events_to_wire(found)

    return guarded(ctx, "a trigger", events)


def message_of(invocation: Invocation) -> dict[str, Any]:
    """The protocol's message for what came of a call (docs/isolation-protocol.md)."""
    match invocation:
        case Returned(result):
            return {
                "type": "result",
                "body": result.body,
                "http_status": result.http_status,
                "mimetype": result.mimetype,
                "accepted": isinstance(result, Accepted),
            }
        case Raised(error):
            return {
                "type": "error",
                "error_code": error.error_code,
                "declared": error.declared.code,
                "message": error.message,
                "http_status": error.http_status,
                "body": error.body,
            }
        case Refused(kind, reason):
            return {"type": "refused", "kind": kind, "message": reason}
        case Crashed(exception, message):
            return {"type": "crash", "exception": exception, "message": message}


Handler = Callable[[Connector, Any, Any, logging.Logger, dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {
    "call": _run,
    "suggest": _suggest,
    "verify": _webhook,
    "receive": _webhook,
    "poll": _poller,
    "acknowledge": _poller,
    "subscribe": _registration,
    "unsubscribe": _registration,
    "registers": _registers,
    "check": _check,
}


if __name__ == "__main__":
    sys.exit(main())
