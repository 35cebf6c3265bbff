"""The os connector: run allowlisted programs and touch files under allowed roots, safely.

Registered through the ``connector_proxy.connectors`` entry point as ``os``;
configured in ``[connectors.os.config]``. It does nothing until the operator
lists programs and roots (see CONFIG_SCHEMA and the README).
"""

from connector_proxy.sdk import Connector
from connector_proxy_os import check, errors, files, running, settings, watching

connector = Connector(
    name="os",
    description="Run allowlisted programs (never a shell) and read or write files inside allowed roots.",
    config_schema=settings.CONFIG_SCHEMA,
    errors=errors.ALL,
    setup=settings.setup,
    groups=[running.commands, files.commands, watching.triggers],
)
connector.check(check.roots_and_programs)

__all__ = ["connector"]
