"""The HTTP API: auth, then liveness, catalog and do routes, all answering JSON."""

from connector_proxy.web.app import create_app

__all__ = ["create_app"]
