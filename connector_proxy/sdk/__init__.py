"""The connector SDK: everything a connector author imports.

Read ``docs/writing-a-connector.md`` for the whole contract; in short, a
package exposes a :class:`Connector` through the ``connector_proxy.connectors``
entry-point group, each command takes a :class:`Context` plus typed
parameters, returns a :class:`Result` (or any JSON value), and raises
:class:`CommandError` with a declared :class:`ErrorCode` to fail. A connector
may also offer OAuth sign-ins (:class:`OAuth2`) and typeahead categories.
"""

from connector_proxy.sdk.auth import OAuth2, RefreshedTokens
from connector_proxy.sdk.connector import Command, Connector, Typeahead
from connector_proxy.sdk.context import Accepted, Context, Result, TaskLog
from connector_proxy.sdk.errors import CommandError, ErrorCode
from connector_proxy.sdk.parameters import Schema

__all__ = [
    "Accepted",
    "Command",
    "CommandError",
    "Connector",
    "Context",
    "ErrorCode",
    "OAuth2",
    "RefreshedTokens",
    "Result",
    "Schema",
    "TaskLog",
    "Typeahead",
]
