"""The connector SDK: everything a connector author imports, from this one namespace.

Read ``docs/writing-a-connector.md`` for the whole contract; in short, a
package exposes a :class:`Connector` through the ``connector_proxy.connectors``
entry-point group, each command takes a :class:`Context` plus typed
parameters, returns a :class:`Result` (or any JSON value), and raises
:class:`CommandError` with a declared :class:`ErrorCode` to fail. Commands
may be written in modules of their own as a :class:`CommandGroup`. A
connector may also offer OAuth sign-ins (:class:`OAuth2`), typeahead
categories and a live check of its credentials (:meth:`Connector.check`,
:class:`CheckFailed`), declare triggers that turn outside events into BPMN
messages (:meth:`Connector.webhook`, :meth:`Connector.poller`, :class:`Event`; a webhook
may set itself up at its source: :data:`Subscribe`, :data:`Unsubscribe`), and
call HTTP through pools that keep the operator's destination policy
(:func:`pooled_session`, :func:`pool_manager`). Test helpers live in
``connector_proxy.sdk.testing`` (the harness that starts the daemon in ``connector_proxy.testing``).

The outbound names need requests and urllib3; they are imported on first
use, so an isolated connector's environment that makes no HTTP call needs
only the standard library.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from connector_proxy.sdk.auth import OAuth2
from connector_proxy.sdk.connector import Check, Command, CommandGroup, Connector, Typeahead
from connector_proxy.sdk.context import Accepted, Context, RefreshedTokens, Result, TaskLog
from connector_proxy.sdk.destinations import DESTINATIONS_SCHEMA, DestinationBlocked, DestinationPolicy
from connector_proxy.sdk.errors import CheckFailed, CommandError, ErrorCode, OutboundRefusal, is_transient
from connector_proxy.sdk.invocation import Crashed, Invocation, Raised, Refused, Returned, invoke
from connector_proxy.sdk.parameters import Schema
from connector_proxy.sdk.retrying import backoff
from connector_proxy.sdk.triggers import (
    INVALID_SIGNATURE,
    REQUEST_EXPIRED,
    Event,
    HmacSignature,
    InboundRequest,
    SharedToken,
    Subscribe,
    Trigger,
    Unsubscribe,
    Verifier,
    after_cursor,
)

if TYPE_CHECKING:
    from connector_proxy.sdk.outbound import (
        DestinationBusy,
        DestinationLineTimeout,
        origin_of,
        pool_manager,
        pooled_session,
    )

_OUTBOUND = ("DestinationBusy", "DestinationLineTimeout", "origin_of", "pool_manager", "pooled_session")

__all__ = [
    "DESTINATIONS_SCHEMA",
    "INVALID_SIGNATURE",
    "REQUEST_EXPIRED",
    "Accepted",
    "Check",
    "CheckFailed",
    "Command",
    "CommandError",
    "CommandGroup",
    "Connector",
    "Context",
    "Crashed",
    "DestinationBlocked",
    "DestinationBusy",
    "DestinationLineTimeout",
    "DestinationPolicy",
    "ErrorCode",
    "Event",
    "HmacSignature",
    "InboundRequest",
    "Invocation",
    "OAuth2",
    "OutboundRefusal",
    "Raised",
    "RefreshedTokens",
    "Refused",
    "Result",
    "Returned",
    "Schema",
    "SharedToken",
    "Subscribe",
    "TaskLog",
    "Trigger",
    "Typeahead",
    "Unsubscribe",
    "Verifier",
    "after_cursor",
    "backoff",
    "invoke",
    "is_transient",
    "origin_of",
    "pool_manager",
    "pooled_session",
]


def __getattr__(name: str) -> Any:
    """The outbound names, imported when first asked for (PEP 562)."""
    if name in _OUTBOUND:
        return getattr(import_module("connector_proxy.sdk.outbound"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
