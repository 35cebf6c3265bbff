"""What a connector that sends HTTP requests takes from its table in plugins.toml: the limits, the
destination policy and the pool, shared by the http connector and the connectors built from OpenAPI
documents (one outbound path for both)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from urllib3 import PoolManager
from urllib3.util import Retry

from connector_proxy.sdk.destinations import DESTINATIONS_SCHEMA, DestinationPolicy
from connector_proxy.sdk.outbound import pool_manager

# headers that say how to answer, never who asks: kept when a redirect leads to another origin
SAFE_ACROSS_ORIGINS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "content-language",
        "content-type",
        "pragma",
        "user-agent",
    }
)

# the keys of a connector's table that shape its requests; a connector adds its own beside them
OUTBOUND_PROPERTIES: dict[str, Any] = {
    "destinations": DESTINATIONS_SCHEMA,
    "max_response_bytes": {"type": "integer", "minimum": 1, "default": 10 * 1024 * 1024},
    "max_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 120},
    "connect_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 10},
    "max_redirects": {"type": "integer", "minimum": 0, "default": 5},
    "keep_headers_across_origins": {
        "type": "array",
        "items": {
            "type": "string",
            "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
            "x-expected": "a header name",
        },
        "default": [],
        "description": "Header names, beyond the built-in safe ones, still sent when a redirect"
        " leads to another origin; every other header a call sets is dropped there.",
    },
    "user_agent": {"type": "string", "default": "connector-proxy-http/0.1"},
}


@dataclass(frozen=True)
class HttpResources:
    """Built once per worker by ``setup``: the limits, the pool and what every request shares."""

    pool: PoolManager
    redirects: Retry
    safe_across_origins: frozenset[str]  # lower-case header names a redirect may carry elsewhere
    default_headers: Mapping[str, str]
    max_response_bytes: int
    max_timeout: float
    connect_timeout: float
    named_origins: tuple[str, ...] = ()  # what the live check tries: destinations.allow's one by one


def setup(config: Mapping[str, Any], policy: DestinationPolicy | None = None) -> HttpResources:
    """``config`` arrives validated, with the schema's defaults filled in; ``policy`` replaces
    the one its ``destinations`` give."""
    policy = policy or DestinationPolicy.from_config(config.get("destinations"))
    return HttpResources(
        pool=pool_manager(policy),
        redirects=_follow_redirects_only(config["max_redirects"]),
        safe_across_origins=SAFE_ACROSS_ORIGINS
        | {name.lower() for name in config["keep_headers_across_origins"]},
        default_headers={
            "User-Agent": config["user_agent"],
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
        },
        max_response_bytes=config["max_response_bytes"],
        max_timeout=float(config["max_timeout"]),
        connect_timeout=float(config["connect_timeout"]),
        named_origins=policy.named_origins(),
    )


def _follow_redirects_only(max_redirects: int) -> Retry:
    """urllib3 retries nothing by itself: attempts and backoff are the command's, under its deadline."""
    return Retry(
        total=None,
        connect=0,
        read=0,
        other=0,
        status=0,
        redirect=max_redirects,
        raise_on_redirect=True,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
