"""The catalog page at ``/``: every connector and command for BPMN authors, with a form to try one;
and the operations page at ``/operations``: what went wrong, with the actions that mend it.

Server-rendered (readable without JavaScript); a little script filters the
list as you type and shows a try's envelope in place. When API keys are set
the page asks for one once and keeps the sign-in in a session cookie (signed,
HttpOnly, SameSite=Strict), never in a URL; a try is a POST carrying the
session's CSRF token, run through the same executor as ``/v1/do``. A session
holds a keyed fingerprint of the key it was opened with (never the key): it
ends when that key is no longer configured (a rotation and SIGHUP), after
``auth.page_session_seconds``, or at ``POST /page/sign-out``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    current_app,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from connector_proxy.host import jsontext
from connector_proxy.host.error_codes import (
    BAD_REQUEST,
    CONNECTOR_NOT_FOUND,
    INVALID_REQUEST_BODY,
    UNAUTHORIZED,
)
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web.auth import key_matches
from connector_proxy.web.catalog import connectors_now
from connector_proxy.web.checks import checked
from connector_proxy.web.documented import documented
from connector_proxy.web.operations import operations_filters, operations_now
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state


class PageSessions(SecureCookieSessionInterface):
    """The page's signed-cookie sessions, opened only for a request that carries one: Flask builds a
    signing serializer for every request (~10 us), and the API's requests never carry the cookie."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()  # what Flask opens without a cookie: empty, signed when saved
        return super().open_session(app, request)


page = Blueprint("page", __name__)
HTML = {200: {"type": "string"}}
FORM = {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}
# what a placeholder of each JSON type looks like in an example call
PLACEHOLDERS: dict[str, Any] = {
    "string": "text",
    "integer": 1,
    "number": 1,
    "boolean": False,
    "object": {},
    "array": [],
}


@page.before_request
def _nonce() -> None:
    g.csp_nonce = secrets.token_urlsafe(16)


@page.after_request
def _protected(response: Response) -> Response:
    """Never cached (it shows configuration and answers); only our own script runs; never framed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{g.get('csp_nonce', '')}'; style-src 'unsafe-inline';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"  # frame-ancestors, for browsers that predate it
    return response


@page.get("/")
@documented(HTML, media_type="text/html", tag="page")
def catalog_page() -> Any:
    """The catalog page (or, when keys are set and none was given yet, the form asking for one)."""
    if not _signed_in():
        return render_template("signin.html", problem=None)
    state = proxy_state()
    query = request.args.get("q", "").strip().lower()
    catalog = [_shown(c) for c in json.loads(state.proxies.view.catalog_json)]  # other proxies' too
    commands = [c for c in catalog if _matches(c, query)]
    by_connector: dict[str, list[dict[str, Any]]] = {}
    for command in commands:
        by_connector.setdefault(command["id"].split("/", 1)[0], []).append(command)
    connectors = connectors_now(state)
    examples = {c["id"]: json.dumps(_example(c), indent=2) for c in commands}
    every: dict[str, int] = {}  # the index: commands per connector, whatever the search
    for command in catalog:
        connector = command["id"].split("/", 1)[0]
        every[connector] = every.get(connector, 0) + 1
    return render_template(
        "catalog.html",
        connectors=connectors,
        proxies=[status.describe() for status in state.proxies.statuses.values()],
        now=time.time(),
        commands=by_connector,
        index={name: (count, len(by_connector.get(name, ()))) for name, count in sorted(every.items())},
        allowed=allowed,
        examples=examples,
        query=query,
        csrf=_csrf_token(),
        csp_nonce=g.csp_nonce,
        signed_in=bool(state.settings.auth.api_keys),
    )


@page.post("/page/sign-in")
@documented({302: None, 401: {"type": "string"}}, media_type="text/html", tag="page", request_content=FORM)
def sign_in() -> Any:
    """Check the API key once; the session remembers it (the key itself is not kept)."""
    offered = request.form.get("api_key", "")
    if not key_matches(offered, proxy_state().settings.auth.api_keys):
        return render_template("signin.html", problem="That key matches no configured key."), 401
    session.clear()
    session["key"] = _fingerprint(offered)
    session["since"] = time.time()
    back = "page.operations_page" if request.form.get("next") == "/operations" else "page.catalog_page"
    return redirect(url_for(back))


@page.post("/page/sign-out")
@documented({302: None}, errors=(UNAUTHORIZED,), media_type="text/html", tag="page", request_content=FORM)
def sign_out() -> Any:
    """End the page's session (its CSRF token is asked, so another site cannot sign you out)."""
    if not _csrf_matches(request.form.get("csrf", "")):
        return error_response(CommandError(UNAUTHORIZED, "Sign out from the catalog page"))
    session.clear()
    return redirect(url_for("page.catalog_page"))


@page.post("/page/try/<connector>/<command>")
@documented(
    {200: {"type": "object"}}, errors=(UNAUTHORIZED, INVALID_REQUEST_BODY), tag="page", request_content=FORM
)
def try_command(connector: str, command: str) -> Any:
    """Run a command from the page: the same executor, validation and envelope as ``POST /v1/do``."""
    if not _signed_in() or not _csrf_matches(request.form.get("csrf", "")):
        return error_response(CommandError(UNAUTHORIZED, "Sign in on the catalog page first"))
    try:
        payload = jsontext.loads(request.form.get("parameters", "{}").encode())
    except jsontext.NotStrictJson as problem:
        return error_response(CommandError(INVALID_REQUEST_BODY, f"parameters: {problem}"))
    executor = proxy_state().executor
    outcome = executor.run(executor.read(f"{connector}/{command}", payload))
    if request.accept_mimetypes.best == "application/json":
        return json_response({"status": outcome.status, "envelope": outcome.envelope})
    shown = json.dumps(outcome.envelope, indent=2, ensure_ascii=False)
    error = outcome.envelope.get("error")
    return render_template(
        "tried.html", command=f"{connector}/{command}", status=outcome.status, envelope=shown, error=error
    )


@page.get("/operations")
@documented(HTML, media_type="text/html", tag="page")
def operations_page() -> Any:
    """The operations page: jobs, events, subscriptions and isolated workers, with their actions
    (``?jobs=`` and ``?events=`` filter as in ``GET /v1/operations``)."""
    if not _signed_in():
        return render_template("signin.html", problem=None)
    try:
        jobs, events = operations_filters()
    except CommandError as error:
        return error_response(error)
    return render_template(
        "operations.html",
        view=operations_now(proxy_state(), jobs, events),
        done=get_flashed_messages(with_categories=True),
        csrf=_csrf_token(),
        signed_in=bool(proxy_state().settings.auth.api_keys),
    )


ACTIONS = ("cancel", "redeliver", "retry", "register")


@page.post("/page/operations/<action>/<record_id>")
@documented(
    {303: None}, errors=(UNAUTHORIZED, BAD_REQUEST), media_type="text/html", tag="page", request_content=FORM
)
def act(action: str, record_id: str) -> Any:
    """An operator's action from the operations page (the session's CSRF token): ``cancel`` or
    ``redeliver`` a job, ``retry`` a dead event, ``register`` a subscription at its source again;
    recorded as done from the page. Back to the page."""
    if not _signed_in() or not _csrf_matches(request.form.get("csrf", "")):
        return error_response(CommandError(UNAUTHORIZED, "Sign in on the operations page first"))
    if action not in ACTIONS:
        return error_response(CommandError(BAD_REQUEST, f"action must be one of {', '.join(ACTIONS)}"))
    state = proxy_state()
    try:
        if action == "retry":
            state.events.retry_by_id(record_id, by="page")
        elif action == "register":
            state.events.register_again(record_id, by="page")
        else:
            getattr(state.jobs, action)(record_id, by="page")
        flash(f"{action}: {record_id}: done", "ok")
    except CommandError as error:
        flash(f"{action}: {record_id}: {error.error_code}: {error.message}", "error")
    return redirect(url_for("page.operations_page") + f"#{record_id}", code=303)


@page.post("/page/check/<name>")
@documented(
    {200: {"type": "object"}}, errors=(UNAUTHORIZED, CONNECTOR_NOT_FOUND), tag="page", request_content=FORM
)
def check_from_page(name: str) -> Any:
    """Run a connector's live check from the catalog page (the session's CSRF token): its outcome, as
    ``POST /v1/connectors/<name>/check`` answers it."""
    if not _signed_in() or not _csrf_matches(request.form.get("csrf", "")):
        return error_response(CommandError(UNAUTHORIZED, "Sign in on the catalog page first"))
    return checked(name)


def _signed_in() -> bool:
    """No keys configured; or a session opened with a key still configured, young enough."""
    auth = proxy_state().settings.auth
    if not auth.api_keys:
        return True
    opened, since = session.get("key"), session.get("since")
    if not isinstance(opened, str) or not isinstance(since, int | float):
        return False
    if time.time() - since > auth.page_session_seconds:
        return False
    return key_matches(opened, tuple(_fingerprint(key) for key in auth.api_keys))


def _fingerprint(key: str) -> str:
    """A key as a session may hold it: keyed with the app's secret, so the cookie reveals nothing."""
    secret = current_app.secret_key
    secret_bytes = secret.encode() if isinstance(secret, str) else bytes(secret or b"")
    return hmac.new(secret_bytes, key.encode(), hashlib.sha256).hexdigest()


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    token: str = session["csrf"]
    return token


def _csrf_matches(offered: str) -> bool:
    expected = session.get("csrf")
    return isinstance(expected, str) and hmac.compare_digest(offered.encode(), expected.encode())


def _shown(command: dict[str, Any]) -> dict[str, Any]:
    """A catalog entry as the page reads it: another proxy's may lack any field the protocol leaves
    optional (``schema``, ``required``, ``description``) or hold others; each has its type here."""
    listed = command.get("parameters")
    parameters = [
        {
            **p,
            "id": str(p["id"]),
            "required": p.get("required") is True,
            "description": str(p.get("description") or ""),
            "schema": p["schema"] if isinstance(p.get("schema"), dict) else {},
        }
        for p in (listed if isinstance(listed, list) else [])
        if isinstance(p, dict) and "id" in p
    ]
    return {**command, "description": str(command.get("description") or ""), "parameters": parameters}


def _matches(command: dict[str, Any], query: str) -> bool:
    if not query:
        return True
    text = " ".join(
        [command["id"], command.get("description", ""), *(p["id"] for p in command["parameters"])]
    )
    return query in text.lower()


# a parameter's bounds as its schema words them, in the order a reader wants them
_BOUNDS = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "at least {} characters"),
    ("maxLength", "at most {} characters"),
    ("minItems", "at least {} items"),
    ("maxItems", "at most {} items"),
    ("multipleOf", "a multiple of {}"),
    ("format", "format {}"),
)


def allowed(schema: Any) -> str:
    """What values a parameter takes, beyond its type: its enum, const, ranges and lengths."""
    if not isinstance(schema, dict):
        return ""
    if isinstance(schema.get("enum"), list):
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    if "const" in schema:
        return f"exactly {json.dumps(schema['const'])}"
    said = [shape.format(schema[key]) for key, shape in _BOUNDS if key in schema]
    items = schema.get("items")
    if isinstance(items, dict) and allowed(items):
        said.append(f"each {allowed(items)}")
    return ", ".join(said)


def _example(command: dict[str, Any]) -> dict[str, Any]:
    """A body for the command: its required parameters, each a value its schema offers (its first
    example, its default, its first allowed value) or else a placeholder of its type."""
    return {p["id"]: _example_value(p["schema"]) for p in command["parameters"] if p["required"]}


def _example_value(schema: dict[str, Any]) -> Any:
    default = [schema["default"]] if "default" in schema else None
    for offered in (schema.get("examples"), default, schema.get("enum")):
        if isinstance(offered, list) and offered:
            return offered[0]
    kind = schema.get("type")
    return PLACEHOLDERS.get(kind if isinstance(kind, str) else "string", "text")
