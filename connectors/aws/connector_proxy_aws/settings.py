"""The connector's table in plugins.toml, and the clients it builds once per worker."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from urllib3 import PoolManager

from connector_proxy.sdk import DESTINATIONS_SCHEMA, DestinationPolicy
from connector_proxy.sdk.outbound import pool_manager

if TYPE_CHECKING:
    import boto3
    from cryptography import x509

ALLOWLISTS = ("buckets", "tables", "queues", "topics", "functions")
SNS_MAX_AGE_SECONDS = 604800  # events.keep_delivered's default: a week
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "region": {"type": "string", "default": "us-east-1"},
        "endpoint_url": {"type": "string", "description": "LocalStack, MinIO or moto instead of AWS."},
        "access_key_id": {"type": "string", "secret": True},
        "secret_access_key": {"type": "string", "secret": True},
        "session_token": {"type": "string", "secret": True},
        "role_arn": {"type": "string", "description": "A role to assume for every call."},
        "role_session_name": {"type": "string", "default": "connector-proxy"},
        "max_object_bytes": {"type": "integer", "minimum": 1, "default": 10 * 1024 * 1024},
        "connect_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 5},
        "read_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 30},
        "max_pool_connections": {"type": "integer", "minimum": 1, "default": 10},
        "sns_origins": {
            "type": "array",
            "items": {"type": "string", "pattern": "^https?://[^/?#@]+/?$", "x-expected": "an origin"},
            "description": "Where SNS messages' SigningCertURL and SubscribeURL may point; default"
            " https://sns.<the topic's region>.amazonaws.com.",
        },
        "sns_max_age_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": SNS_MAX_AGE_SECONDS,
            "description": "How old an SNS message's signed Timestamp may be; keep it at or below"
            " events.keep_delivered, or a captured notification replays once its event is pruned.",
        },
        "destinations": DESTINATIONS_SCHEMA,
        "allow": {
            "type": "object",
            "additionalProperties": False,
            "description": "When a list is given, only the names on it may be used.",
            "properties": {name: {"type": "array", "items": {"type": "string"}} for name in ALLOWLISTS},
            "default": {},
        },
    },
}


@dataclass
class AwsResources:
    """Clients are made once per worker process and service, on first use, then shared by threads."""

    config: Mapping[str, Any]
    allow: Mapping[str, frozenset[str]]
    max_object_bytes: int
    pool: PoolManager  # for the SNS certificates and confirmations: the destination policy applies
    certificates: dict[str, x509.Certificate] = field(default_factory=dict)  # SNS's, by URL
    _clients: dict[tuple[int, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str) -> Any:
        key = (os.getpid(), service)  # a client must not cross a fork
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key) or self._new_client(service)
                self._clients[key] = client
        return client

    def _new_client(self, service: str) -> Any:
        # boto3 is imported by the first call that needs a client, not by every worker at start:
        # ~30 MiB and ~0.3 s that a daemon whose calls never reach AWS would pay for nothing
        import boto3
        from botocore.config import Config

        config = self.config
        session = boto3.session.Session(
            aws_access_key_id=config.get("access_key_id"),
            aws_secret_access_key=config.get("secret_access_key"),
            aws_session_token=config.get("session_token"),
            region_name=config["region"],
        )
        if config.get("role_arn"):
            session = _assumed(session, config)
        settings = Config(
            connect_timeout=config["connect_timeout"],
            read_timeout=config["read_timeout"],
            max_pool_connections=config["max_pool_connections"],
            retries={"mode": "standard", "max_attempts": 3},
        )
        return session.client(service, endpoint_url=config.get("endpoint_url"), config=settings)


def _assumed(session: boto3.session.Session, config: Mapping[str, Any]) -> boto3.session.Session:
    import boto3

    sts = session.client("sts", endpoint_url=config.get("endpoint_url"))
    role = sts.assume_role(RoleArn=config["role_arn"], RoleSessionName=config["role_session_name"])
    credentials = role["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=config["region"],
    )


def setup(config: Mapping[str, Any]) -> AwsResources:
    """``config`` arrives validated, with the schema's defaults filled in."""
    allow = config["allow"]
    return AwsResources(
        config=config,
        allow={name: frozenset(allow[name]) for name in ALLOWLISTS if name in allow},
        max_object_bytes=config["max_object_bytes"],
        pool=pool_manager(DestinationPolicy.from_config(config.get("destinations"))),
    )
