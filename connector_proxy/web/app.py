"""The application factory: configuration and registry in, WSGI app out."""

from __future__ import annotations

import os

from flask import Flask

from connector_proxy.config import Settings, config_path, load_settings
from connector_proxy.discovery import build_registry
from connector_proxy.executor import Executor
from connector_proxy.jobs.service import create_jobs
from connector_proxy.registry import Registry
from connector_proxy.signin import SignIns
from connector_proxy.web.auth import require_api_key
from connector_proxy.web.bounded import BoundedRequest
from connector_proxy.web.catalog import catalog
from connector_proxy.web.do import do
from connector_proxy.web.errors import register_error_handlers
from connector_proxy.web.health import health
from connector_proxy.web.jobs import jobs
from connector_proxy.web.oauth import oauth
from connector_proxy.web.state import ProxyState, attach
from connector_proxy.web.typeahead import typeahead


def create_app(settings: Settings | None = None, registry: Registry | None = None) -> Flask:
    """Build the daemon's app; discovery runs here, once, unless a registry is given.

    Without settings the configuration is read from ``$CONNECTOR_PROXY_CONFIG``
    or ``./plugins.toml`` (so ``flask --app connector_proxy.web.app`` works too).
    """
    if settings is None:
        settings = load_settings(config_path(None, os.environ), os.environ)
    if registry is None:
        registry = build_registry(settings)
    app = Flask("connector_proxy")
    app.request_class = BoundedRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.limits.max_body_bytes
    executor = Executor(registry, settings.limits)
    jobs_service = create_jobs(settings, executor)
    attach(app, ProxyState(settings, registry, executor, jobs_service, SignIns(settings.oauth)))
    app.before_request(require_api_key)
    for blueprint in (health, catalog, do, jobs, oauth, typeahead):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    return app
