"""Liveness: open to everyone, cheap, and JSON like everything else."""

from __future__ import annotations

from flask import Blueprint, Response

from connector_proxy.web.responses import raw_json

health = Blueprint("health", __name__)
_OK = b'{"ok":true}'


@health.get("/liveness")
@health.get("/v1/liveness")
def liveness() -> Response:
    return raw_json(_OK)
