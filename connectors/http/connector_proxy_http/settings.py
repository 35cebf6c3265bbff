"""The connector's table in plugins.toml, its schema and its defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from connector_proxy.sdk.outbound import DESTINATIONS_SCHEMA, DestinationPolicy, pooled_session

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "destinations": DESTINATIONS_SCHEMA,
        "max_response_bytes": {"type": "integer", "minimum": 1, "default": 10 * 1024 * 1024},
        "max_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 120},
        "connect_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 10},
        "max_redirects": {"type": "integer", "minimum": 0, "default": 5},
        "pool_size": {"type": "integer", "minimum": 1, "default": 16},
        "user_agent": {"type": "string", "default": "connector-proxy-http/0.1"},
    },
}


@dataclass(frozen=True)
class HttpResources:
    """Built once per worker by ``setup``: the limits and the pooled session."""

    session: requests.Session
    max_response_bytes: int
    max_timeout: float
    connect_timeout: float


def setup(config: Mapping[str, Any]) -> HttpResources:
    properties = CONFIG_SCHEMA["properties"]

    def value(key: str) -> Any:
        return config.get(key, properties[key]["default"])

    session = pooled_session(
        DestinationPolicy.from_config(config.get("destinations")),
        pool_size=value("pool_size"),
        max_redirects=value("max_redirects"),
    )
    session.headers["User-Agent"] = value("user_agent")  # a call's own User-Agent wins
    return HttpResources(
        session=session,
        max_response_bytes=value("max_response_bytes"),
        max_timeout=float(value("max_timeout")),
        connect_timeout=float(value("connect_timeout")),
    )
