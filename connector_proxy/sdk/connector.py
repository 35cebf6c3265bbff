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
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connector_proxy.sdk.auth import OAuth2
from connector_proxy.sdk.errors import ErrorCode
from connector_proxy.sdk.parameters import JsonSchema, derive_parameters, parse_docstring

CommandFunction = Callable[..., Any]
F = TypeVar("F", bound=CommandFunction)
Setup = Callable[[Mapping[str, Any]], Any]
TypeaheadFunction = Callable[..., Sequence[Any]]
T = TypeVar("T", bound=TypeaheadFunction)


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


@dataclass(frozen=True)
class Typeahead:
    """A category of suggestions for form fields that complete as the user types.

    The function takes ``(ctx, prefix, limit)`` and returns at most ``limit``
    JSON values (strings, or objects such as ``{"name": ...}``).
    """

    name: str
    function: TypeaheadFunction
    description: str = ""


@dataclass
class Connector:
    """A named group of commands sharing one configuration.

    ``config_schema`` is the JSON Schema of the connector's table in
    ``plugins.toml``; mark secret fields with ``"secret": true`` so they accept
    ``env:NAME`` / ``file:/path`` references and are masked when shown.
    ``setup`` runs once per worker with the validated configuration; what it
    returns is handed to every command as ``ctx.resources``.
    ``errors`` are codes every command of the connector may raise.
    """

    name: str
    description: str = ""
    version: str | None = None
    config_schema: JsonSchema = field(default_factory=lambda: {"type": "object"})
    errors: tuple[ErrorCode, ...] = ()
    setup: Setup | None = None
    commands: dict[str, Command] = field(default_factory=dict)
    auths: dict[str, OAuth2] = field(default_factory=dict)
    typeaheads: dict[str, Typeahead] = field(default_factory=dict)

    def command(
        self,
        name: str,
        *,
        aliases: Iterable[str] = (),
        errors: Iterable[ErrorCode] = (),
        parameters: JsonSchema | None = None,
        description: str | None = None,
        asynchronous: bool = False,
    ) -> Callable[[F], F]:
        """Register a function as a command.

        Parameters are derived from the type hints after ``ctx`` unless
        ``parameters`` gives the object schema explicitly. An ``asynchronous``
        command always runs as a job (any command does when the caller sends
        ``Prefer: respond-async``).
        """

        def register(function: F) -> F:
            if name in self.commands:
                raise ValueError(f"{self.name}/{name} is registered twice")
            self.commands[name] = Command(
                name=name,
                function=function,
                parameters=parameters or derive_parameters(function),
                description=description or parse_docstring(function).summary,
                errors=self.errors + tuple(errors),
                aliases=tuple(aliases),
                asynchronous=asynchronous,
            )
            return function

        return register

    def auth(self, auth: OAuth2) -> OAuth2:
        """Offer an OAuth 2.0 sign-in as ``<connector>/<auth.name>`` (``GET /v1/auths``)."""
        if auth.name in self.auths:
            raise ValueError(f"{self.name}/{auth.name} is declared twice")
        self.auths[auth.name] = auth
        return auth

    def typeahead(self, name: str, *, description: str | None = None) -> Callable[[T], T]:
        """Register ``function(ctx, prefix, limit)`` as typeahead category ``<connector>/<name>``."""

        def register(function: T) -> T:
            if name in self.typeaheads:
                raise ValueError(f"{self.name}/{name} is a typeahead category twice")
            summary = description or parse_docstring(function).summary
            self.typeaheads[name] = Typeahead(name, function, summary)
            return function

        return register
