"""A call read once, at the edge: every later step (validation, tracing, the command's context, jobs,
the relay, metrics, logs) reads the :class:`Call`, never the body again.

One rule reads the host's fields (``spiff__*``): an id is text, a process instance is a number and never
a boolean, the task data is carried as it came (:mod:`connector_proxy.host.task_data`), anything else
is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from jsonschema.protocols import Validator

from connector_proxy.calls.registry import BoundCommand
from connector_proxy.calls.validation import validate
from connector_proxy.host import error_codes
from connector_proxy.sdk.context import CallIds
from connector_proxy.sdk.errors import CommandError

SPIFF_PREFIX = "spiff__"
CALLBACK_URL = f"{SPIFF_PREFIX}callback_url"


@dataclass(frozen=True)
class HostFields:
    """What the host sent about its task, beside the command's parameters."""

    task_id: str | None = None
    process_instance_id: int | None = None
    process_model_identifier: str | None = None
    callback_url: Any = None  # as sent: a job refuses a bad one (InvalidCallbackUrl), a command reads text
    task_data: Mapping[str, Any] = field(default_factory=dict)  # carried unread until read

    @property
    def callback_text(self) -> str | None:
        return _text(self.callback_url)


@dataclass(frozen=True)
class Call:
    """One call of ``command_id``: the body as read (kept by jobs), its parameters and the host's fields.

    ``command`` is the registry's, looked up once where the call came in (None: no connector here
    offers it, or another proxy serves it).
    """

    command_id: str
    body: Any
    command: BoundCommand | None
    parameters: dict[str, Any]
    host: HostFields

    @classmethod
    def read(
        cls, command_id: str, body: Any, command: BoundCommand | None, optional: frozenset[str] | None = None
    ) -> Call:
        """The call, its members split once; null for an optional parameter (``optional``, else the
        command's) means not given."""
        dropped = (command.optional if command else frozenset()) if optional is None else optional
        parameters: dict[str, Any] = {}
        host: dict[str, Any] = {}
        for key, value in (body if isinstance(body, dict) else {}).items():
            if key.startswith(SPIFF_PREFIX):
                host[key[len(SPIFF_PREFIX) :]] = value
            elif not (value is None and key in dropped):
                parameters[key] = value
        return cls(command_id, body, command, parameters, _host_fields(host))

    def ids(self, request_id: str | None) -> CallIds:
        """The request's id with the host's instance and task, for every line this call logs."""
        return CallIds(request_id, self.host.process_instance_id, self.host.task_id)

    def traced(self) -> dict[str, Any]:
        """What a call's span says: the connector and command, and the host's ids (never a parameter)."""
        instance = self.host.process_instance_id
        return {
            "connector_proxy__connector": self.command.connector if self.command else None,
            "connector_proxy__command": self.command.id if self.command else None,
            "spiff__process_instance_id": None if instance is None else str(instance),
            "spiff__task_id": self.host.task_id,
        }

    def with_parameters(self, parameters: dict[str, Any]) -> Call:
        return replace(self, parameters=parameters)

    def with_callback(self, url: str) -> Call:
        """The call with ``url`` in place of the host's callback URL (a relay's)."""
        body = {**self.body, CALLBACK_URL: url} if isinstance(self.body, dict) else self.body
        return replace(self, body=body, host=replace(self.host, callback_url=url))


def check(call: Call, validator: Validator) -> None:
    """Raise the refusal of a call whose body is not an object or whose parameters fail their schema
    (here, or for a command another proxy serves: the same rules, the same words)."""
    if not isinstance(call.body, dict):
        raise CommandError(error_codes.INVALID_REQUEST_BODY, "The body must be a JSON object")
    validate(validator, call.parameters)


def _host_fields(host: Mapping[str, Any]) -> HostFields:
    instance, task_data = host.get("process_instance_id"), host.get("task_data")
    return HostFields(
        task_id=_text(host.get("task_id")),
        process_instance_id=instance
        if isinstance(instance, int) and not isinstance(instance, bool)
        else None,
        process_model_identifier=_text(host.get("process_model_identifier")),
        callback_url=host.get("callback_url"),
        task_data=task_data if isinstance(task_data, Mapping) else {},
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
