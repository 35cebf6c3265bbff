"""connector-proxy: the daemon between a BPMN engine and the outside world.

Connector authors import :mod:`connector_proxy.sdk`; everything else is the
daemon's own and may change.
"""

__version__ = "0.1.0"
