"""The application factory: configuration and registry in, WSGI app out."""

from __future__ import annotations

import os
import re
import secrets
from typing import Any

from flask import Flask, Response, request

from connector_proxy.calls.discovery import Discovered, discover
from connector_proxy.calls.executor import Executor
from connector_proxy.config import Settings, config_path, load_settings
from connector_proxy.events.service import create_events
from connector_proxy.host import error_codes, jsontext
from connector_proxy.jobs.service import create_jobs
from connector_proxy.oauth.renewed_tokens import create_renewals
from connector_proxy.oauth.signin import SignIns
from connector_proxy.process.services import ProcessServices
from connector_proxy.proxies.service import FIRST_READ_SECONDS, Proxies
from connector_proxy.sdk.errors import CommandError
from connector_proxy.stores.one_time_values import create_spent
from connector_proxy.web import openapi
from connector_proxy.web.auth import require_api_key
from connector_proxy.web.bounded import BoundedRequest
from connector_proxy.web.catalog import catalog
from connector_proxy.web.checks import checks
from connector_proxy.web.cors import allow_listed_origins
from connector_proxy.web.do import do
from connector_proxy.web.error_handlers import register_error_handlers
from connector_proxy.web.health import health
from connector_proxy.web.inbound import inbound
from connector_proxy.web.jobs import jobs
from connector_proxy.web.metrics import metrics
from connector_proxy.web.oauth import oauth
from connector_proxy.web.operations import operations
from connector_proxy.web.page import PageSessions, page
from connector_proxy.web.relay import relay
from connector_proxy.web.request_ids import identify_requests
from connector_proxy.web.responses import error_response
from connector_proxy.web.state import ProxyState, attach
from connector_proxy.web.traced import trace_requests
from connector_proxy.web.typeahead import typeahead
from connector_proxy.web.validate import validate

_SLASHES = re.compile("/{2,}")
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def create_app(settings: Settings | None = None, discovered: Discovered | None = None) -> Flask:
    """Build the daemon's app; discovery runs here, once, unless its result is given.

    Without settings the configuration is read from ``$CONNECTOR_PROXY_CONFIG``
    or ``./plugins.toml`` (so ``flask --app connector_proxy.web.app`` works too).
    """
    if settings is None:
        settings = load_settings(config_path(None, os.environ), os.environ)
    if discovered is None:
        discovered = discover(settings)
    registry = discovered.registry
    app = Flask("connector_proxy", static_folder=None)  # no files to serve: no /static route
    _answer_every_path_in_json(app)
    app.request_class = BoundedRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.limits.max_body_bytes
    app.config["BODY_TIMEOUT"] = settings.limits.body_timeout
    # the catalog page's session: signed, HttpOnly, never sent by another site's page
    app.secret_key = settings.oauth.session_secret or secrets.token_bytes(32)
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.config["SESSION_COOKIE_NAME"] = "connector_proxy_page"
    app.session_interface = PageSessions()
    executor = Executor(registry, settings.limits, create_renewals(settings))
    jobs_service = create_jobs(settings, executor)
    events = create_events(settings, registry)
    proxies = Proxies(settings, registry)
    proxies.read_all(FIRST_READ_SECONDS)  # once here; each worker reads them again in the background
    running = (jobs_service.background, events.background, proxies.background)
    backgrounds = [background for background in running if background is not None]
    services = ProcessServices(discovered.pools, backgrounds)
    identify_requests(app)  # around everything: a refused request has an id too
    trace_requests(app, settings.environ)
    allow_listed_origins(app, settings.cors)  # a listed origin's preflight goes before the key check
    app.before_request(_refuse_odd_path_parameters)
    app.before_request(require_api_key)
    app.after_request(_never_sniffed)
    for blueprint in (
        health,
        catalog,
        checks,
        operations,
        do,
        jobs,
        relay,
        inbound,
        oauth,
        typeahead,
        metrics,
        validate,
        page,
    ):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    document = jsontext.dumps(openapi.build(app, registry, settings))
    signins = SignIns(settings.oauth, create_spent(settings))
    state = ProxyState(
        settings, registry, executor, jobs_service, events, signins, services, proxies, document
    )
    attach(app, state)
    return app


def _refuse_odd_path_parameters() -> Response | None:
    """A path (parameter) holding a control character (``%0d%0a``) is a 400 on every route, before any
    route builds a header, a log line or a URL from it."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and _CONTROL.search(value):
            message = f"The path parameter {name!r} holds a control character"
            return error_response(CommandError(error_codes.BAD_REQUEST, message))
    if _CONTROL.search(request.path):  # one no route matched (a path parameter cannot hold a newline)
        return error_response(CommandError(error_codes.BAD_REQUEST, "The path holds a control character"))
    return None


def _never_sniffed(response: Response) -> Response:
    """Every answer, a remote's passed on too, is taken as the media type it declares (an SVG or a
    text answer is never run as a page)."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _answer_every_path_in_json(app: Flask) -> None:
    """Werkzeug answers ``/v1//commands`` and OPTIONS itself, outside our error handlers, in HTML.

    Repeated slashes are merged before routing (a host's base URL ending in "/" still works, with no
    redirect page), and OPTIONS is not answered automatically (405 with ``Allow``, as JSON).
    """
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    routed = app.wsgi_app

    def merged_slashes(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = _SLASHES.sub("/", path)
        return routed(environ, start_response)

    app.wsgi_app = merged_slashes  # type: ignore[method-assign]
