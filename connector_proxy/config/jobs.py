"""``[jobs]``: calls run in the background, where they are kept, and how their results are delivered."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from connector_proxy.config.values import ConfigError, plain_url
from connector_proxy.sdk.destinations import parse_entries
from connector_proxy.secrets import SecretReferenceError, resolve_reference
from connector_proxy.secrets.record_encryption import valid_key


@dataclass(frozen=True)
class JobSettings:
    """Calls run in the background: where jobs are kept, how long, and how results are delivered."""

    backend: str = "sqlite"  # or "celery"
    sqlite_path: str = "connector-proxy-jobs.sqlite3"
    threads: int = 4  # jobs run at once per worker process (sqlite backend)
    command_timeout: float = 3600.0  # a job's deadline: the host is not waiting on the line
    max_starts: int = 3  # a job whose process dies under it this often is failed, not run again
    # a running job's claim, renewed each second by its process: a job whose process stopped renewing
    # this long is queued again (one whose gunicorn worker exited is queued at once)
    lease_seconds: float = 90.0
    # Fernet keys sealing payloads and envelopes at rest (the first seals, all open); empty: stored clear
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    keep_finished: float = 7 * 24 * 3600.0
    delivery_timeout: float = 10.0
    delivery_give_up_after: float = 24 * 3600.0
    # "Name: value" lines; a value may be an env:/file: reference
    callback_headers: tuple[str, ...] = field(default=(), repr=False)
    allow_callback_loopback: bool = True  # the host often runs beside the proxy
    # where callbacks may go (destination entries: origins, host:port, hosts, networks)
    callback_allow: tuple[str, ...] = ()
    redis_url: str = "redis://127.0.0.1:6379/0"
    celery_queue: str = "connector-proxy"
    redis_prefix: str = "connector-proxy"  # job records' keys start with it: several deployments, one Redis
    # the daemon's URL as a command that PUTs its own result back reaches it (a SpiffWorkflow package's
    # execute_async); empty: http://127.0.0.1:<the port of server.bind>
    relay_url: str = ""

    @property
    def callback_header_pairs(self) -> tuple[tuple[str, str], ...]:
        pairs = (header.partition(":") for header in self.callback_headers)
        return tuple((name.strip(), value.strip()) for name, _, value in pairs)


def resolve_encryption_keys(jobs: JobSettings, environ: Mapping[str, str]) -> JobSettings:
    keys = []
    for position, key in enumerate(jobs.encryption_keys):
        try:
            keys.append(resolve_reference(key, environ))
        except SecretReferenceError as error:
            raise ConfigError(f"jobs.encryption_keys[{position}]: {error}") from None
        if not valid_key(keys[-1]):  # never the value itself in the message
            raise ConfigError(
                f"jobs.encryption_keys[{position}] is not a Fernet key (32 bytes, URL-safe base64);"
                " docs/configuration.md says how to make one"
            )
    return dataclasses.replace(jobs, encryption_keys=tuple(keys))


def resolve_callback_headers(jobs: JobSettings, environ: Mapping[str, str]) -> JobSettings:
    resolved = []
    for position, header in enumerate(jobs.callback_headers):
        name, colon, value = header.partition(":")
        if not colon or not name.strip() or "\n" in header or "\r" in header:
            # named by position, never quoted: without its colon, the "name" is the whole line, token and all
            raise ConfigError(f"jobs.callback_headers[{position}] must read 'Name: value' on one line")
        try:
            resolved.append(f"{name.strip()}: {resolve_reference(value.strip(), environ)}")
        except SecretReferenceError as error:
            raise ConfigError(f"jobs.callback_headers: {name.strip()}: {error}") from None
    _check_callback_allow(jobs)
    return dataclasses.replace(jobs, callback_headers=tuple(resolved))


def _check_callback_allow(jobs: JobSettings) -> None:
    """The operator's credentials for the host go to the host only: where it is must be said."""
    try:
        parse_entries("jobs.callback_allow", jobs.callback_allow)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if jobs.callback_headers and not jobs.callback_allow:
        raise ConfigError(
            "jobs.callback_headers is set, so jobs.callback_allow must name the host's origins, the only"
            ' places its credentials are sent (e.g. callback_allow = ["https://spiff.example.com"])'
        )


def check_jobs(jobs: JobSettings) -> None:
    if jobs.backend not in ("sqlite", "celery"):
        raise ConfigError("jobs.backend must be sqlite or celery")
    if jobs.threads < 1:
        raise ConfigError("jobs.threads must be at least 1")
    if jobs.max_starts < 1:
        raise ConfigError("jobs.max_starts must be at least 1")
    if jobs.lease_seconds < 3:
        raise ConfigError("jobs.lease_seconds must be at least 3 (a lease is renewed every second)")
    if not jobs.redis_prefix or not jobs.redis_prefix.isprintable() or " " in jobs.redis_prefix:
        raise ConfigError("jobs.redis_prefix must be printable text without spaces")
    for key in ("command_timeout", "keep_finished", "delivery_timeout", "delivery_give_up_after"):
        if getattr(jobs, key) <= 0:
            raise ConfigError(f"jobs.{key} must be positive")
    if jobs.relay_url and not plain_url(jobs.relay_url):
        # never quoted: a query (what is refused) or userinfo may hold a token
        raise ConfigError("jobs.relay_url must be an http(s) URL with a host and without a query")
