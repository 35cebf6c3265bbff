"""``POST /v1/validate``: BPMN models checked against this daemon's catalog.

The checking itself is :mod:`connector_proxy.models.validate`, shared with ``connector-proxy validate``.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, request

from connector_proxy.host.error_codes import INVALID_MODEL
from connector_proxy.models.upgrade import UnreadableCatalog, Upgrade, read_catalog
from connector_proxy.models.validate import Check, MalformedModel, check_task, report_with, shapes_of
from connector_proxy.process.concurrency import off_the_loop
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web import proxied
from connector_proxy.web.documented import documented
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state

validate = Blueprint("validate", __name__, url_prefix="/v1")
XML_TYPES = ("application/xml", "text/xml")
AGAINST = "against"  # the multipart file holding the catalog an upgrade starts from
REPORT = {
    "type": "object",
    "required": ["ok", "files", "service_tasks", "findings"],
    "properties": {
        "ok": {"type": "boolean"},
        "files": {"type": "integer"},
        "service_tasks": {"type": "integer"},
        "findings": {"type": "array", "items": {"type": "object"}},
    },
}
MODELS = {
    **{media: {"schema": {"type": "string"}} for media in XML_TYPES},
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {
                "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                "against": {"type": "string", "format": "binary"},
            },
        }
    },
}


@validate.post("/validate")
@documented({200: REPORT}, errors=(INVALID_MODEL,), tag="models", request_content=MODELS)
def validate_models() -> Response:
    """Check BPMN models against the catalog: one as the XML body, or several as multipart files.

    Answers every finding (file, task, parameter, kind, message) and ``ok`` when none is an error;
    a file that is not safe, well-formed BPMN is a 400 ``InvalidModel`` naming it. With a multipart
    file ``against`` (a catalog from ``connector-proxy catalog export``, or a saved ``GET /v1/commands``),
    the findings are what upgrading from that catalog to this daemon's breaks or changes. The whole request
    is held to ``limits.max_model_bytes``; the parse runs off the event loop, so a big model does not
    hold up the worker's other calls.
    """
    request.max_content_length = proxy_state().settings.limits.max_model_bytes  # 413 on Content-Length
    try:
        models = _models()
        if not models:
            raise CommandError(INVALID_MODEL, "No model was sent: an XML body, or files in a multipart form")
        check = _check()
        return json_response(off_the_loop(lambda: report_with(models, check)))
    except (MalformedModel, UnreadableCatalog) as problem:
        return error_response(CommandError(INVALID_MODEL, str(problem)))
    except CommandError as error:
        return error_response(error)


def _check() -> Check:
    """Against this daemon's catalog (other proxies' commands too), or an upgrade to it."""
    catalog = json.loads(proxied.catalog_json(proxy_state()))
    against = request.files.get(AGAINST) if request.mimetype == "multipart/form-data" else None
    if against is not None:
        return Upgrade(
            read_catalog(against.read(), "against"), {entry["id"]: entry for entry in catalog}
        ).check
    shapes = shapes_of(catalog)
    return lambda task: check_task(task, shapes)


def _models() -> list[tuple[str, bytes]]:
    if request.mimetype == "multipart/form-data":
        return [
            (upload.filename or field, upload.read())
            for field, upload in request.files.items(multi=True)
            if field != AGAINST
        ]
    body = request.get_data(cache=False)  # over limits.max_model_bytes raises 413
    return [("request body", body)] if body else []
