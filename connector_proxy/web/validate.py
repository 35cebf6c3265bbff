"""``POST /v1/validate``: BPMN models checked against this daemon's catalog.

The checking itself is :mod:`connector_proxy.modelcheck`, shared with ``connector-proxy validate``.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, request

from connector_proxy.concurrency import off_the_loop
from connector_proxy.errors import INVALID_MODEL
from connector_proxy.modelcheck import MalformedModel, report, shapes_of
from connector_proxy.sdk.errors import CommandError
from connector_proxy.web import proxied
from connector_proxy.web.documented import documented
from connector_proxy.web.responses import error_response, json_response
from connector_proxy.web.state import proxy_state

validate = Blueprint("validate", __name__, url_prefix="/v1")
XML_TYPES = ("application/xml", "text/xml")
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
            "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
        }
    },
}


@validate.post("/validate")
@documented({200: REPORT}, errors=(INVALID_MODEL,), tag="models", request_content=MODELS)
def validate_models() -> Response:
    """Check BPMN models against the catalog: one as the XML body, or several as multipart files.

    Answers every finding (file, task, parameter, kind, message) and ``ok`` when none is an error;
    a file that is not safe, well-formed BPMN is a 400 ``InvalidModel`` naming it. The whole request
    is held to ``limits.max_model_bytes``; the parse runs off the event loop, so a big model does not
    hold up the worker's other calls.
    """
    request.max_content_length = proxy_state().settings.limits.max_model_bytes  # 413 on Content-Length
    try:
        models = _models()
        if not models:
            raise CommandError(INVALID_MODEL, "No model was sent: an XML body, or files in a multipart form")
        shapes = shapes_of(json.loads(proxied.catalog_json(proxy_state())))  # other proxies' commands too
        return json_response(off_the_loop(lambda: report(models, shapes)))
    except MalformedModel as problem:
        return error_response(CommandError(INVALID_MODEL, str(problem)))
    except CommandError as error:
        return error_response(error)


def _models() -> list[tuple[str, bytes]]:
    if request.mimetype == "multipart/form-data":
        return [
            (upload.filename or field, upload.read()) for field, upload in request.files.items(multi=True)
        ]
    body = request.get_data(cache=False)  # over limits.max_model_bytes raises 413
    return [("request body", body)] if body else []
