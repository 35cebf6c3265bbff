"""The object a connector package exposes through its entry point.

    connector = Connector("http", description="Call HTTP APIs.")

    @connector.command("GetRequest", aliases=["GetRequestV2"])
    def get_request(ctx: Context, url: str, timeout: float = 30) -> Result:
        '''Send a GET request.

        Args:
            url: Where to send it.
            timeout: Seconds to wait for an answer.
        '''

The daemon finds ``connector`` through the ``connector_proxy.connectors``
entry-point group; nothing else of the package is ever scanned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from connector_proxy.sdk.auth import OAuth2
from connector_proxy.sdk.errors import ErrorCode
from connector_proxy.sdk.parameters import JsonSchema, derive_output, derive_parameters, parse_docstring
from connector_proxy.sdk.triggers import (
    POLLER,
    WEBHOOK,
    Acknowledge,
    Subscribe,
    Trigger,
    Unsubscribe,
    Verifier,
)

CommandFunction = Callable[..., Any]
F = TypeVar("F", bound=CommandFunction)
Setup = Callable[[Mapping[str, Any]], Any]
TypeaheadFunction = Callable[..., Sequence[Any]]
T = TypeVar("T", bound=TypeaheadFunction)
CheckFunction = Callable[..., str | None]
K = TypeVar("K", bound=CheckFunction)
W = TypeVar("W", bound=Callable[..., Any])


@dataclass(frozen=True)
class Command:
    """One advertised operation: its name, schema, errors and function."""

    name: str
    function: CommandFunction
    parameters: JsonSchema
    description: str
    errors: tuple[ErrorCode, ...] = ()
    aliases: tuple[str, ...] = ()
    asynchronous: bool = False  # always run as a job: answered 202 at once, result by callback
    # it answers 202 and PUTs its result to the callback URL itself (a SpiffWorkflow package's
    # execute_async): the daemon hands it a URL of its own and relays the result to the host
    calls_back: bool = False
    # a command on its way out: why (and what to use), and its replacement's id, shown in the catalog;
    # a call still runs, with a warning in its spiff__logs
    deprecated: str | None = None
    replaced_by: str | None = None  # "<connector>/<command>"
    since: str | None = None  # the connector's version that added it
    output: JsonSchema | None = None  # the JSON Schema of command_response.body; None: not declared
    # what it calls, for a command built from a description (OpenAPI): method, path and operationId
    operation: Mapping[str, str | None] | None = None


@dataclass(frozen=True)
class Typeahead:
    """A category of suggestions for form fields that complete as the user types.

    The function takes ``(ctx, prefix, limit)`` and returns at most ``limit``
    JSON values (strings, or objects such as ``{"name": ...}``).
    """

    name: str
    function: TypeaheadFunction
    description: str = ""


@dataclass(frozen=True)
class Check:
    """A connector's live check of its credentials and destinations, run when an operator asks.

    The function takes ``ctx`` (configuration, resources, a deadline) and returns a line saying what
    it verified, or None; it raises :class:`~connector_proxy.sdk.errors.CheckFailed` (or any
    ``CommandError``) to say what does not work. It must be cheap and read-only: it runs on demand
    from the page, the API and ``connector-proxy check --live``, never on a schedule.
    """

    function: CheckFunction
    description: str = ""


class CommandGroup:
    """Commands and typeahead categories written in a module of their own, like a Flask blueprint.

        commands = CommandGroup()

        @commands.command("UploadObject", errors=[NO_SUCH_BUCKET])
        def upload_object(ctx: Context, bucket: str, key: str) -> dict: ...

    The connector takes them in with ``Connector(..., groups=[s3.commands])`` or
    :meth:`Connector.include`; its own ``errors`` are added to every command then.
    """

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.typeaheads: dict[str, Typeahead] = {}
        self.triggers: dict[str, Trigger] = {}

    def command(
        self,
        name: str,
        *,
        aliases: Iterable[str] = (),
        errors: Iterable[ErrorCode] = (),
        parameters: JsonSchema | None = None,
        description: str | None = None,
        asynchronous: bool = False,
        calls_back: bool = False,
        deprecated: str | None = None,
        replaced_by: str | None = None,
        since: str | None = None,
        output: JsonSchema | None = None,
    ) -> Callable[[F], F]:
        """Register a function as a command.

        Parameters are derived from the type hints after ``ctx`` unless
        ``parameters`` gives the object schema explicitly. An ``asynchronous``
        command always runs as a job (any command does when the caller sends
        ``Prefer: respond-async``). A command that ``calls_back`` returns
        ``Accepted`` and has ``ctx.callback_url`` PUT to later (by a thread, or
        a remote system it hands the URL to): that URL is the daemon's relay,
        which passes the result on to the host with the callback credentials.
        ``deprecated`` (a message: why, and what to use instead), ``replaced_by``
        (the replacement's ``<connector>/<command>``) and ``since`` (the version
        that added it) are shown in the catalog; a deprecated command still runs,
        its calls warned in ``spiff__logs`` (docs/writing-a-connector.md says how
        to rename without breaking models). ``output`` is the JSON Schema of
        what it answers (``command_response.body``), derived from the return
        hint when not given (a ``TypedDict`` says the most).
        """

        def register(function: F) -> F:
            self._add_command(
                Command(
                    name=name,
                    function=function,
                    parameters=parameters or derive_parameters(function),
                    description=description or parse_docstring(function).summary,
                    errors=tuple(errors),
                    aliases=tuple(aliases),
                    asynchronous=asynchronous,
                    calls_back=calls_back,
                    deprecated=deprecated,
                    replaced_by=replaced_by,
                    since=since,
                    output=output if output is not None else derive_output(function),
                )
            )
            return function

        return register

    def typeahead(self, name: str, *, description: str | None = None) -> Callable[[T], T]:
        """Register ``function(ctx, prefix, limit)`` as typeahead category ``<connector>/<name>``."""

        def register(function: T) -> T:
            summary = description or parse_docstring(function).summary
            self._add_typeahead(Typeahead(name, function, summary))
            return function

        return register

    def webhook(
        self,
        name: str,
        *,
        verifier: Verifier,
        payload: JsonSchema | None = None,
        settings: JsonSchema | None = None,
        description: str | None = None,
        subscribe: Subscribe | None = None,
        unsubscribe: Unsubscribe | None = None,
        generated_secret: str | None = None,
        registers: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Callable[[W], W]:
        """Register ``function(ctx, request) -> Event | list[Event]`` as webhook trigger ``name``.

        The daemon verifies each request with ``verifier`` and checks its JSON body against
        ``payload`` before the function sees it; ``ctx.settings`` is the subscription's settings.
        ``subscribe(ctx, url, secret) -> registration`` and ``unsubscribe(ctx, registration)``
        set the hook up at the source and remove it (see :class:`Trigger`).
        """
        if (subscribe is None) != (unsubscribe is None):
            raise ValueError(f"{self._named(name)}: subscribe and unsubscribe come as a pair")

        def register(function: W) -> W:
            summary = description or parse_docstring(function).summary
            schema = settings or {"type": "object"}
            trigger = Trigger(
                name,
                WEBHOOK,
                function,
                summary,
                schema,
                payload,
                verifier,
                None,
                subscribe,
                unsubscribe,
                generated_secret,
                registers,
            )
            self._add_trigger(trigger)
            return function

        return register

    def poller(
        self,
        name: str,
        *,
        settings: JsonSchema | None = None,
        acknowledge: Acknowledge | None = None,
        description: str | None = None,
    ) -> Callable[[W], W]:
        """Register ``function(ctx, cursor) -> (events, new_cursor)`` as polling trigger ``name``.

        The cursor is None at first, then what the last poll returned, kept durably; it must be
        JSON (a timestamp, an id). ``acknowledge(ctx, events)`` runs once the events are stored.
        """

        def register(function: W) -> W:
            summary = description or parse_docstring(function).summary
            schema = settings or {"type": "object"}
            trigger = Trigger(name, POLLER, function, summary, schema, acknowledge=acknowledge)
            self._add_trigger(trigger)
            return function

        return register

    def add(self, command: Command) -> None:
        """Register a command made as data rather than decorated (a factory builds them from a
        description, as the openapi package does from each operation)."""
        self._add_command(command)

    def _add_trigger(self, trigger: Trigger) -> None:
        if trigger.name in self.triggers:
            raise ValueError(f"{self._named(trigger.name)} is a trigger twice")
        self.triggers[trigger.name] = trigger

    def _add_command(self, command: Command) -> None:
        if command.name in self.commands:
            raise ValueError(f"{self._named(command.name)} is registered twice")
        self.commands[command.name] = command

    def _add_typeahead(self, typeahead: Typeahead) -> None:
        if typeahead.name in self.typeaheads:
            raise ValueError(f"{self._named(typeahead.name)} is a typeahead category twice")
        self.typeaheads[typeahead.name] = typeahead

    def _named(self, name: str) -> str:
        return name


class Connector(CommandGroup):
    """A named group of commands sharing one configuration.

    ``config_schema`` is the JSON Schema of the connector's table in
    ``plugins.toml``; mark secret fields with ``"secret": true`` so they accept
    ``env:NAME`` / ``file:/path`` references and are masked when shown.
    ``setup`` runs once per worker with the validated configuration; what it
    returns is handed to every command as ``ctx.resources``.
    ``errors`` are codes every command of the connector may raise.
    ``groups`` are command groups whose commands it takes in (:meth:`include`).
    """

    def __init__(
        self,
        name: str,
        description: str = "",
        version: str | None = None,
        config_schema: JsonSchema | None = None,
        errors: tuple[ErrorCode, ...] = (),
        setup: Setup | None = None,
        groups: Iterable[CommandGroup] = (),
    ) -> None:
        self.name = name
        self.description = description
        self.version = version
        self.config_schema: JsonSchema = config_schema or {"type": "object"}
        self.errors = errors
        self.setup = setup
        self.auths: dict[str, OAuth2] = {}
        self.live_check: Check | None = None
        super().__init__()
        for group in groups:
            self.include(group)

    def include(self, group: CommandGroup) -> None:
        """Take in a group's commands (with this connector's errors added), typeaheads and triggers."""
        for command in group.commands.values():
            self._add_command(command)
        for typeahead in group.typeaheads.values():
            self._add_typeahead(typeahead)
        for trigger in group.triggers.values():
            self._add_trigger(trigger)

    def _add_command(self, command: Command) -> None:
        super()._add_command(replace(command, errors=self.errors + command.errors))

    def _named(self, name: str) -> str:
        return f"{self.name}/{name}"

    def auth(self, auth: OAuth2) -> OAuth2:
        """Offer an OAuth 2.0 sign-in as ``<connector>/<auth.name>`` (``GET /v1/auths``)."""
        if auth.name in self.auths:
            raise ValueError(f"{self.name}/{auth.name} is declared twice")
        self.auths[auth.name] = auth
        return auth

    def check(self, function: K) -> K:
        """Register ``function(ctx) -> str | None`` as the connector's live check (one per connector)::

        @connector.check
        def who_am_i(ctx: Context) -> str:
            '''Ask the service who the configured credentials belong to.'''
            return f"signed in as {ctx.resources.client.whoami()}"
        """
        if self.live_check is not None:
            raise ValueError(f"{self.name} has a live check already")
        self.live_check = Check(function, parse_docstring(function).summary)
        return function
