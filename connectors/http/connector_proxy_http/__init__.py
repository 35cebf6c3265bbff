"""The http connector: call HTTP APIs from BPMN service tasks.

Registered through the ``connector_proxy.connectors`` entry point as ``http``;
configured in ``[connectors.http.config]`` (see CONFIG_SCHEMA and the README). The
sending, its limits and its error codes live in :mod:`connector_proxy.sdk.http`, shared with the
OpenAPI connectors.
"""

from typing import Any

from connector_proxy.sdk import Connector
from connector_proxy.sdk.http import errors
from connector_proxy.sdk.http.settings import OUTBOUND_PROPERTIES, setup
from connector_proxy_http import check, commands, inbound

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": OUTBOUND_PROPERTIES,
}

connector = Connector(
    name="http",
    description="Send HTTP requests (GET, POST, PUT, PATCH, DELETE, HEAD) to allowed destinations;"
    " receive signed webhooks.",
    config_schema=CONFIG_SCHEMA,
    errors=errors.ALL,
    setup=setup,
    groups=[commands.commands, inbound.triggers],
)
connector.check(check.destinations_answer)

__all__ = ["connector"]
