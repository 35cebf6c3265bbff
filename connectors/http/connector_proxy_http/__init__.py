"""The http connector: call HTTP APIs from BPMN service tasks.

Registered through the ``connector_proxy.connectors`` entry point as ``http``;
configured in ``[connectors.http.config]`` (see CONFIG_SCHEMA and the README).
"""

from connector_proxy.sdk import Connector
from connector_proxy_http import check, commands, errors, inbound, settings

connector = Connector(
    name="http",
    description="Send HTTP requests (GET, POST, PUT, PATCH, DELETE, HEAD) to allowed destinations;"
    " receive signed webhooks.",
    config_schema=settings.CONFIG_SCHEMA,
    errors=errors.ALL,
    setup=settings.setup,
    groups=[commands.commands, inbound.triggers],
)
connector.check(check.destinations_answer)

__all__ = ["connector"]
