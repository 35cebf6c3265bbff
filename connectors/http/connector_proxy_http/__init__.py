"""The http connector: call HTTP APIs from BPMN service tasks.

Registered through the ``connector_proxy.connectors`` entry point as ``http``;
configured in ``[connectors.http.config]`` (see CONFIG_SCHEMA and the README).
"""

from connector_proxy.sdk import Connector
from connector_proxy_http import commands, errors, settings

connector = Connector(
    name="http",
    description="Send HTTP requests (GET, POST, PUT, PATCH, DELETE, HEAD) to allowed destinations.",
    config_schema=settings.CONFIG_SCHEMA,
    errors=errors.ALL,
    setup=settings.setup,
    groups=[commands.commands],
)

__all__ = ["connector"]
