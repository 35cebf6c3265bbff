"""The one configuration object: ``plugins.toml`` plus environment overrides.

Loaded and validated once at start-up and handed down; no other module reads
files or environment variables for settings. Every daemon setting can be
overridden with ``CONNECTOR_PROXY_<SECTION>_<KEY>`` (lists comma-separated).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_type_hints

from connector_proxy.sdk.destinations import parse_entries
from connector_proxy.sdk.factories import FACTORY_GROUP
from connector_proxy.secrets import SecretReferenceError, resolve_reference
from connector_proxy.secrets.record_encryption import valid_key

ENV_PREFIX = "CONNECTOR_PROXY_"
CONFIG_ENV = "CONNECTOR_PROXY_CONFIG"
DEFAULT_CONFIG = "plugins.toml"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("auto", "json", "text")
WORKER_CLASSES = ("gevent", "gthread")


class ConfigError(ValueError):
    """The configuration is unusable; the message names the key."""


@dataclass(frozen=True)
class ServerSettings:
    """How the daemon serves: gunicorn workers, each waiting on many upstreams at once."""

    bind: str = "127.0.0.1:7004"
    workers: int = 4
    worker_class: str = "gevent"  # a call waiting on an upstream costs a greenlet, not a thread
    worker_connections: int = 1000  # calls at once per gevent worker
    threads: int = 8  # per gthread worker (worker_class = "gthread")
    graceful_timeout: int = 30
    log_level: str = "info"
    log_format: str = "auto"  # json, text, or auto: JSON lines unless stderr is a terminal
    access_log: bool = False

    @property
    def worker_timeout(self) -> int:
        """Seconds gunicorn lets a worker go silent (a command holding a gevent worker's CPU) before
        killing it; never shorter than a graceful stop."""
        return max(60, self.graceful_timeout)


@dataclass(frozen=True)
class LimitSettings:
    """Bounds on what one call may cost."""

    max_body_bytes: int = 10 * 1024 * 1024
    command_timeout: float = 44.0  # just under the host's 45 s, so it hears our answer
    # a request's line and headers (and an idle keep-alive connection) get this long, then it is closed
    header_timeout: int = 5  # whole seconds: gunicorn counts them so
    body_timeout: float = 30.0  # the whole body, from the end of the headers: a trickling client is cut
    max_model_bytes: int = 2 * 1024 * 1024  # POST /v1/validate: BPMN models, all files together
    typeahead_timeout: float = 5.0  # a suggestion's deadline: the user is typing
    typeahead_cache_seconds: float = 30.0  # the same category, prefix and limit are answered from memory
    check_timeout: float = 10.0  # a connector's live check: an operator is waiting for it


@dataclass(frozen=True)
class AuthSettings:
    """API keys (several, for rotation) and the /v1 paths open without one."""

    api_keys: tuple[str, ...] = ()
    open_paths: tuple[str, ...] = ("/v1/auth/",)
    page_session_seconds: float = 8 * 3600.0  # a catalog page sign-in lasts a working day at most


@dataclass(frozen=True)
class SecretsSettings:
    """How long a connector's secrets kept elsewhere (a file, a secrets manager) are used before they
    are read again; 0: only at start-up and on SIGHUP."""

    cache_seconds: float = 300.0


@dataclass(frozen=True)
class CorsSettings:
    """Browser origins allowed to call /v1/ across origins; none by default (the host calls server-side)."""

    origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricsSettings:
    """Who may scrape ``/metrics``."""

    # a key of its own for the scraper (Authorization: Bearer <key>), plain or env:/file:; else the API keys
    key: str = field(default="", repr=False)


@dataclass(frozen=True)
class DiscoverySettings:
    """Which installed connectors are loaded."""

    enable_unlisted: bool = True
    spiffworkflow_packages: bool = True  # also load SpiffWorkflow's connector_<name> packages
    prefer: str = "entry_point"  # when both kinds offer one name: "entry_point" or "spiffworkflow"
    import_timeout: float = 30.0  # seconds a connector's import may take; one that hangs is left out


@dataclass(frozen=True)
class OAuthSettings:
    """The browser's sign-in through the proxy (``/v1/auth/...``)."""

    # where the browser may be sent back with its tokens: URL prefixes, each at least an origin and "/"
    redirect_urls: tuple[str, ...] = ()
    state_ttl: float = 600.0  # seconds a sign-in may take between start and callback
    # signs the sign-in's cookie; empty: a random key per start (sign-ins in flight fail across restarts)
    session_secret: str = field(default="", repr=False)
    # the proxy's URL as the browser reaches it, for the provider's redirect back; empty: from the request
    public_url: str = ""
    # seconds a renewed token set the host could not store yet is kept for its next call (30 days)
    keep_renewed: float = 2_592_000.0


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


@dataclass(frozen=True)
class EventSettings:
    """Inbound events: where they are delivered as BPMN messages, and how hard we try."""

    # the host's API root; a message goes to <host_url>/messages/<name>, e.g. "http://127.0.0.1:7000/v1.0"
    host_url: str = ""
    # sent as SpiffWorkflow-Api-Key (a service account's key), plain or env:/file:
    host_api_key: str = field(default="", repr=False)
    # the host's execution_mode, sent only when set: "asynchronous" needs the host's Celery
    execution_mode: str = ""
    time_to_live_in_seconds: int = 0  # > 0: the host buffers a message no receiver waits for yet
    delivery_timeout: float = 10.0
    give_up_after: float = 24 * 3600.0  # an event not delivered by then is dead-lettered
    keep_delivered: float = 7 * 24 * 3600.0  # delivered and dead events stay visible this long
    delivery_threads: int = 2  # per worker process
    poll_timeout: float = 30.0  # a poll's deadline
    lease_seconds: float = 60.0  # a poller's claim on its subscription, renewed each turn; > poll_timeout
    # a webhook's body: refused on its Content-Length before a byte is read or hashed
    max_body_bytes: int = 1024 * 1024
    # webhooks being read and verified at once per worker process; more are answered 503 at once, so
    # forged requests cannot crowd out authenticated calls
    max_unverified: int = 4
    # webhook body bytes a worker process reads and verifies per second (bursts up to max_body_bytes)
    unverified_bytes_per_second: int = 4 * 1024 * 1024
    # the daemon's address as event sources see it, e.g. "https://proxy.example.com": a trigger that
    # registers its webhook at the source gives it <public_url>/v1/inbound/<connector>/<trigger>/<name>
    public_url: str = ""


@dataclass(frozen=True)
class SubscriptionSettings:
    """One ``[subscriptions.<name>]`` table: a trigger, its settings, and the message it sends."""

    name: str
    trigger: str  # "<connector>/<trigger>"
    message: str  # the BPMN message's name
    settings: Mapping[str, Any] = field(default_factory=dict)
    payload: Mapping[str, str] = field(default_factory=dict)  # payload key -> JSON pointer into the event
    template: str | None = None  # or a Jinja template rendering the payload's JSON
    interval: float = 60.0  # polling triggers: seconds between polls
    enabled: bool = True


@dataclass(frozen=True)
class WorkerLimits:
    """What one isolated worker process may use; at a limit the call in flight answers
    WorkerLimitExceeded and the worker is replaced, the others keep serving."""

    memory_bytes: int | None = None  # what it holds (its own memory cgroup) or its address space (RLIMIT_AS)
    cpu_seconds: int | None = None  # CPU time of one call (RLIMIT_CPU, moved on before each call)
    max_calls: int | None = None  # calls a worker answers before it is replaced, between calls
    max_age_seconds: int | None = None  # a worker older than this is replaced, between calls
    min_workers: int | None = None  # started at once and kept; None: all of connectors.<name>.workers
    idle_seconds: int | None = None  # a worker idle this long is stopped, down to min_workers
    cgroup: bool = True  # memory_bytes in a cgroup of its own where the daemon has one to give


NO_LIMITS = WorkerLimits()


@dataclass(frozen=True)
class ConnectorSettings:
    """One ``[connectors.<name>]`` table: the daemon's keys and the connector's own."""

    enabled: bool = True
    config: Mapping[str, Any] = field(default_factory=dict)
    python: str | None = None  # run isolated, under this interpreter (another virtual environment's)
    program: tuple[str, ...] = ()  # run isolated, as this program speaking the isolation protocol
    workers: int = 2  # isolated worker processes per daemon worker
    limits: WorkerLimits = NO_LIMITS  # on each isolated worker process
    # typeahead categories opened to keyless requests (a SpiffWorkflow backend sends no key there), by
    # the one-segment names hosts ask for ({"buckets": "s3-buckets"}); the others need the API key
    typeahead: Mapping[str, str] = field(default_factory=dict)
    # built by an installed factory (connector_proxy.factories) from a source: ("openapi", "spec.yaml")
    built_from: tuple[str, str] | None = None

    @property
    def isolated(self) -> bool:
        return self.python is not None or bool(self.program)


PROXY_MODES = ("forward", "redirect")


@dataclass(frozen=True)
class ProxySettings:
    """One ``[proxies.<name>]`` table: another connector proxy whose commands join our catalog."""

    name: str
    url: str  # its base URL, where /v1/commands and /v1/do/... are found
    api_key: str = field(default="", repr=False)  # sent as Spiff-Connector-Proxy-Api-Key; plain or env:/file:
    timeout: float = 44.0  # a forwarded call's deadline (whole answer); under the host's 45 s
    connectors: tuple[str, ...] = ("*",)  # which of its connectors to take; "*": all
    exclude: tuple[str, ...] = ()  # and which not to
    mode: str = "forward"  # or "redirect": the host is sent there with redirect_status
    redirect_status: int = 307
    refresh_seconds: float = 60.0  # its catalog is read again this often, in the background
    max_response_bytes: int = 16 * 1024 * 1024  # a bigger answer is refused, not held
    max_catalog_bytes: int = 8 * 1024 * 1024  # a bigger /v1/commands is refused (state too_large)
    max_commands: int = 10_000  # a catalog listing more is refused (state too_large)

    def takes(self, connector: str) -> bool:
        """Whether this proxy's connector of that name joins our catalog."""
        return ("*" in self.connectors or connector in self.connectors) and connector not in self.exclude


@dataclass(frozen=True)
class Settings:
    """Everything the daemon was configured with."""

    server: ServerSettings = ServerSettings()
    limits: LimitSettings = LimitSettings()
    auth: AuthSettings = AuthSettings()
    cors: CorsSettings = CorsSettings()
    discovery: DiscoverySettings = DiscoverySettings()
    jobs: JobSettings = JobSettings()
    oauth: OAuthSettings = OAuthSettings()
    metrics: MetricsSettings = MetricsSettings()
    events: EventSettings = EventSettings()
    secrets: SecretsSettings = SecretsSettings()
    connectors: Mapping[str, ConnectorSettings] = field(default_factory=dict)
    subscriptions: Mapping[str, SubscriptionSettings] = field(default_factory=dict)
    proxies: Mapping[str, ProxySettings] = field(default_factory=dict)  # in the file's order
    source: Path | None = None
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def connector(self, name: str) -> ConnectorSettings | None:
        return self.connectors.get(name)

    @property
    def sqlite_path(self) -> Path:
        """The embedded store's file (jobs, events, spent values): ``jobs.sqlite_path``, beside the
        configuration file when relative."""
        base = self.source.parent if self.source else Path.cwd()
        return base / self.jobs.sqlite_path


SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "limits": LimitSettings,
    "auth": AuthSettings,
    "cors": CorsSettings,
    "discovery": DiscoverySettings,
    "jobs": JobSettings,
    "oauth": OAuthSettings,
    "metrics": MetricsSettings,
    "events": EventSettings,
    "secrets": SecretsSettings,
}
# a subscription's or a typeahead category's name: one path segment of the URL that reaches it
SEGMENT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """``--config``, else ``$CONNECTOR_PROXY_CONFIG``, else ``./plugins.toml``."""
    return Path(explicit or environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Read, override and validate the configuration; raise ConfigError if unusable."""
    document = _read_toml(path) if path is not None else {}
    tables = {*SECTIONS, "connectors", "subscriptions", "proxies"}
    unknown = set(document) - tables
    if unknown:
        raise ConfigError(f"unknown section(s): {_named(unknown, tables)}")
    try:
        return _settings(document, path, environ)
    except ConfigError as error:
        raise _from_environment(error, environ) from None


def _settings(document: Mapping[str, Any], path: Path | None, environ: Mapping[str, str]) -> Settings:
    sections = {name: _section(name, cls, document.get(name, {}), environ) for name, cls in SECTIONS.items()}
    auth: AuthSettings = sections["auth"]
    sections["auth"] = _resolve_api_keys(auth, environ)
    sections["jobs"] = _resolve_encryption_keys(_resolve_callback_headers(sections["jobs"], environ), environ)
    sections["oauth"] = _resolve_oauth(sections["oauth"], environ)
    sections["metrics"] = _resolve_metrics_key(sections["metrics"], environ)
    sections["events"] = _resolve_events(sections["events"], environ)
    _check_origins(sections["cors"])
    _check(sections)
    subscriptions = _subscriptions(document.get("subscriptions", {}))
    if subscriptions and not sections["events"].host_url:
        raise ConfigError("events.host_url must name the host's API root when subscriptions are configured")
    return Settings(
        **sections,
        connectors=MappingProxyType(_connectors(document.get("connectors", {}))),
        subscriptions=MappingProxyType(subscriptions),
        proxies=MappingProxyType(_proxies(document.get("proxies", {}), environ)),
        source=path,
        environ=MappingProxyType(dict(environ)),
    )


class EnvironmentConfigError(ConfigError):
    """A value set by an environment override (``variable``), not by the file."""

    def __init__(self, message: str, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


def _from_environment(error: ConfigError, environ: Mapping[str, str]) -> ConfigError:
    """An error about a key an environment variable set names that variable: the file may not even
    have the key."""
    if isinstance(error, EnvironmentConfigError):
        return error
    for section, key in re.findall(r"\b([a-z]+)\.([a-z_]+)\b", str(error)):
        variable = f"{ENV_PREFIX}{section}_{key}".upper()
        if section in SECTIONS and variable in environ:
            return EnvironmentConfigError(f"{error} (set by the environment variable {variable})", variable)
    return error


def _named(unknown: set[str], known: set[str] | frozenset[str]) -> str:
    """Unknown names, each with the known one it is likely a misspelling of."""
    return ", ".join(name + did_you_mean(name, known) for name in sorted(unknown))


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean <the closest known word>?)``, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def read_worker_class(path: Path | None, environ: Mapping[str, str]) -> str:
    """``server.worker_class`` alone, resolving no secret: ``serve`` patches the standard library
    for it before a secret provider (boto3 for ``aws-sm:``) imports ``ssl``."""
    document = _read_toml(path) if path is not None else {}
    server: ServerSettings = _section("server", ServerSettings, document.get("server", {}), environ)
    return server.worker_class


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``CONNECTOR_PROXY_*`` variables that set nothing (a misspelt ``..._SERVER_WORKRS``, say)."""
    known = _variables()
    return sorted(name for name in environ if name.startswith(ENV_PREFIX) and name not in known)


def meant_variable(name: str) -> str:
    """`` (did you mean CONNECTOR_PROXY_…?)`` for a variable that sets nothing, or ``""``."""
    return did_you_mean(name, _variables())


def _variables() -> set[str]:
    return {CONFIG_ENV} | {
        f"{ENV_PREFIX}{name}_{field.name}".upper()
        for name, cls in SECTIONS.items()
        for field in dataclasses.fields(cls)
    }


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(
            f"no configuration file at {path.absolute()}; name one with --config PATH or"
            f" {CONFIG_ENV}, or run where a plugins.toml is"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def _section(name: str, cls: type[Any], table: Any, environ: Mapping[str, str]) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {_named(unknown, known)}")
    values: dict[str, Any] = {}
    for key in known:
        env_name = f"{ENV_PREFIX}{name}_{key}".upper()
        if env_name in environ:
            try:
                values[key] = _from_env(env_name, environ[env_name], hints[key])
            except ConfigError as error:
                raise EnvironmentConfigError(str(error), env_name) from None
        elif key in table:
            values[key] = _typed(f"{name}.{key}", table[key], hints[key])
    return cls(**values)


def _expected(hint: Any) -> Any:
    """The class a value must be: ``tuple[str, ...]`` is checked as a tuple of text."""
    return tuple if getattr(hint, "__origin__", None) is tuple else hint


def _typed(where: str, value: Any, hint: Any) -> Any:
    expected = _expected(hint)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    valid = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if not valid:
        raise ConfigError(f"{where} must be {_type_name(expected)}, got {type(value).__name__}")
    return value


def _from_env(env_name: str, raw: str, hint: Any) -> Any:
    expected = _expected(hint)
    try:
        if expected is bool:
            return _parse_bool(raw)
        if expected is tuple:
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        return expected(raw)
    except ValueError:
        raise ConfigError(f"{env_name} must be {_type_name(expected)}") from None


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _type_name(expected: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    return names.get(expected, "a list of strings")


def _resolve_api_keys(auth: AuthSettings, environ: Mapping[str, str]) -> AuthSettings:
    try:
        keys = tuple(resolve_reference(key, environ) for key in auth.api_keys)
    except SecretReferenceError as error:
        raise ConfigError(f"auth.api_keys: {error}") from None
    if any(not key for key in keys):
        raise ConfigError("auth.api_keys: an API key is empty")
    return dataclasses.replace(auth, api_keys=keys)


def _resolve_metrics_key(metrics: MetricsSettings, environ: Mapping[str, str]) -> MetricsSettings:
    try:
        return dataclasses.replace(metrics, key=resolve_reference(metrics.key, environ))
    except SecretReferenceError as error:
        raise ConfigError(f"metrics.key: {error}") from None


def _resolve_encryption_keys(jobs: JobSettings, environ: Mapping[str, str]) -> JobSettings:
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


def _resolve_callback_headers(jobs: JobSettings, environ: Mapping[str, str]) -> JobSettings:
    resolved = []
    for header in jobs.callback_headers:
        name, colon, value = header.partition(":")
        if not colon or not name.strip() or "\n" in header or "\r" in header:
            raise ConfigError(f"jobs.callback_headers: {name.strip()!r} must read 'Name: value' on one line")
        try:
            resolved.append(f"{name.strip()}: {resolve_reference(value.strip(), environ)}")
        except SecretReferenceError as error:
            raise ConfigError(f"jobs.callback_headers: {name.strip()}: {error}") from None
    _check_callback_allow(jobs)
    return dataclasses.replace(jobs, callback_headers=tuple(resolved))


ORIGIN = re.compile(r"https?://[^/?#*\s]+")


def _check_origins(cors: CorsSettings) -> None:
    """Each origin exactly as a browser sends it; no wildcard: the list is an allowlist."""
    for origin in cors.origins:
        if not ORIGIN.fullmatch(origin):
            raise ConfigError(
                f"cors.origins: {origin!r} must be an origin, scheme://host[:port], with no path or '*'"
            )


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


def _resolve_oauth(oauth: OAuthSettings, environ: Mapping[str, str]) -> OAuthSettings:
    try:
        secret = resolve_reference(oauth.session_secret, environ)
    except SecretReferenceError as error:
        raise ConfigError(f"oauth.session_secret: {error}") from None
    for prefix in oauth.redirect_urls:
        scheme, _, rest = prefix.partition("://")
        if scheme not in ("http", "https") or "/" not in rest or rest.startswith("/"):
            raise ConfigError(
                f"oauth.redirect_urls: {prefix!r} must be an http(s) URL with a path, at least '/'"
            )
    if oauth.state_ttl <= 0:
        raise ConfigError("oauth.state_ttl must be positive")
    if oauth.keep_renewed <= 0:
        raise ConfigError("oauth.keep_renewed must be positive")
    return dataclasses.replace(oauth, session_secret=secret)


def _resolve_events(events: EventSettings, environ: Mapping[str, str]) -> EventSettings:
    try:
        key = resolve_reference(events.host_api_key, environ)
    except SecretReferenceError as error:
        raise ConfigError(f"events.host_api_key: {error}") from None
    if events.host_url and not _plain_url(events.host_url):
        raise ConfigError(f"events.host_url: {events.host_url!r} must be an http(s) URL without a query")
    if events.public_url and not _plain_url(events.public_url):
        raise ConfigError(f"events.public_url: {events.public_url!r} must be an http(s) URL without a query")
    if events.execution_mode not in ("", "asynchronous", "synchronous"):
        raise ConfigError("events.execution_mode must be asynchronous, synchronous or empty (not sent)")
    if events.time_to_live_in_seconds < 0:
        raise ConfigError("events.time_to_live_in_seconds must be 0 (not sent) or more")
    if events.max_body_bytes < 1024:
        raise ConfigError("events.max_body_bytes must be at least 1024")
    if events.max_unverified < 1:
        raise ConfigError("events.max_unverified must be at least 1")
    if events.unverified_bytes_per_second < events.max_body_bytes:
        raise ConfigError("events.unverified_bytes_per_second must be at least events.max_body_bytes")
    for name in ("delivery_timeout", "give_up_after", "keep_delivered", "poll_timeout", "lease_seconds"):
        if getattr(events, name) <= 0:
            raise ConfigError(f"events.{name} must be positive")
    if events.delivery_threads < 1:
        raise ConfigError("events.delivery_threads must be at least 1")
    if events.lease_seconds <= events.poll_timeout:
        raise ConfigError("events.lease_seconds must be longer than events.poll_timeout")
    return dataclasses.replace(events, host_api_key=key)


def _subscriptions(table: Any) -> dict[str, SubscriptionSettings]:
    if not isinstance(table, dict):
        raise ConfigError("[subscriptions] must be a table of subscription tables")
    return {name: _subscription(name, entry) for name, entry in table.items()}


def _subscription(name: str, entry: Any) -> SubscriptionSettings:
    where = f"subscriptions.{name}"
    if not SEGMENT_NAME.fullmatch(name):
        raise ConfigError(f"[{where}]: a name is 1 to 64 letters, digits, '_', '.' or '-'")
    if not isinstance(entry, dict):
        raise ConfigError(f"[{where}] must be a table")
    known = {f.name for f in dataclasses.fields(SubscriptionSettings)} - {"name"}
    unknown = set(entry) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where}]: {_named(unknown, known)}")
    for key in ("trigger", "message"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f"{where}.{key} must be a non-empty string")
    if entry["trigger"].count("/") != 1:
        raise ConfigError(f"{where}.trigger must read '<connector>/<trigger>'")
    payload = entry.get("payload", {})
    if not isinstance(payload, dict) or not all(
        isinstance(v, str) and (v == "" or v.startswith("/")) for v in payload.values()
    ):
        raise ConfigError(f"{where}.payload must map names to JSON pointers ('' or starting with '/')")
    if "template" in entry and "payload" in entry:
        raise ConfigError(f"{where}: give payload or template, not both")
    settings = entry.get("settings", {})
    if not isinstance(settings, dict):
        raise ConfigError(f"[{where}.settings] must be a table")
    template = entry.get("template")
    if template is not None and not isinstance(template, str):
        raise ConfigError(f"{where}.template must be a string")
    interval = _typed(f"{where}.interval", entry.get("interval", 60.0), float)
    if interval <= 0:
        raise ConfigError(f"{where}.interval must be positive")
    enabled = _typed(f"{where}.enabled", entry.get("enabled", True), bool)
    return SubscriptionSettings(
        name, entry["trigger"], entry["message"], settings, payload, template, interval, enabled
    )


def _proxies(table: Any, environ: Mapping[str, str]) -> dict[str, ProxySettings]:
    if not isinstance(table, dict):
        raise ConfigError("[proxies] must be a table of proxy tables")
    return {name: _proxy(name, entry, environ) for name, entry in table.items()}


def _proxy(name: str, entry: Any, environ: Mapping[str, str]) -> ProxySettings:
    where = f"proxies.{name}"
    if not SEGMENT_NAME.fullmatch(name) or not isinstance(entry, dict):
        raise ConfigError(f"[{where}] must be a table named with 1 to 64 letters, digits, '_', '.' or '-'")
    hints = get_type_hints(ProxySettings)
    unknown = set(entry) - set(hints) - {"name"}
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where}]: {_named(unknown, set(hints) - {'name'})}")
    if "url" not in entry:
        raise ConfigError(f"{where}.url is required: the other proxy's base URL")
    values = {key: _typed(f"{where}.{key}", value, hints[key]) for key, value in entry.items()}
    proxy = ProxySettings(name=name, **values)
    if not _plain_url(proxy.url):
        raise ConfigError(f"{where}.url must be an http(s) URL without a query (the other proxy's base URL)")
    if proxy.mode not in PROXY_MODES:
        raise ConfigError(f"{where}.mode must be one of {', '.join(PROXY_MODES)}")
    if proxy.redirect_status not in (307, 308):
        raise ConfigError(f"{where}.redirect_status must be 307 or 308 (the method and body are kept)")
    for key in ("timeout", "refresh_seconds"):
        if getattr(proxy, key) <= 0:
            raise ConfigError(f"{where}.{key} must be positive")
    for key in ("max_response_bytes", "max_catalog_bytes"):
        if getattr(proxy, key) < 1024:
            raise ConfigError(f"{where}.{key} must be at least 1024")
    if proxy.max_commands < 1:
        raise ConfigError(f"{where}.max_commands must be at least 1")
    try:
        key = resolve_reference(proxy.api_key, environ)
    except SecretReferenceError as error:
        raise ConfigError(f"{where}.api_key: {error}") from None
    return dataclasses.replace(proxy, url=proxy.url.rstrip("/"), api_key=key)


def _check(sections: Mapping[str, Any]) -> None:
    server: ServerSettings = sections["server"]
    limits: LimitSettings = sections["limits"]
    auth: AuthSettings = sections["auth"]
    if server.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"server.log_level must be one of {', '.join(LOG_LEVELS)}")
    if server.log_format not in LOG_FORMATS:
        raise ConfigError(f"server.log_format must be one of {', '.join(LOG_FORMATS)}")
    for key in ("workers", "threads", "worker_connections"):
        if getattr(server, key) < 1:
            raise ConfigError(f"server.{key} must be at least 1")
    if server.worker_class not in WORKER_CLASSES:
        raise ConfigError(f"server.worker_class must be one of {', '.join(WORKER_CLASSES)}")
    if limits.max_body_bytes < 1024:
        raise ConfigError("limits.max_body_bytes must be at least 1024")
    if limits.max_model_bytes < 1024:
        raise ConfigError("limits.max_model_bytes must be at least 1024")
    for key in ("command_timeout", "header_timeout", "body_timeout", "typeahead_timeout", "check_timeout"):
        if getattr(limits, key) <= 0:
            raise ConfigError(f"limits.{key} must be positive")
    if sections["secrets"].cache_seconds < 0:
        raise ConfigError("secrets.cache_seconds must be 0 (read at start-up only) or more")
    if limits.typeahead_cache_seconds < 0:
        raise ConfigError("limits.typeahead_cache_seconds must be 0 (no cache) or more")
    if auth.page_session_seconds <= 0:
        raise ConfigError("auth.page_session_seconds must be positive")
    for path in auth.open_paths:
        if not path.startswith("/v1/"):
            raise ConfigError(f"auth.open_paths: {path!r} must start with /v1/")
    _check_jobs(sections["jobs"])
    if sections["discovery"].prefer not in ("entry_point", "spiffworkflow"):
        raise ConfigError("discovery.prefer must be entry_point or spiffworkflow")
    if sections["discovery"].import_timeout <= 0:
        raise ConfigError("discovery.import_timeout must be positive")


def _check_jobs(jobs: JobSettings) -> None:
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
    if jobs.relay_url and not _plain_url(jobs.relay_url):
        raise ConfigError(f"jobs.relay_url: {jobs.relay_url!r} must be an http(s) URL without a query")


def _plain_url(url: str) -> bool:
    """An http(s) URL with a host and no query: a base other paths are added to."""
    scheme, _, rest = url.partition("://")
    return scheme in ("http", "https") and bool(rest) and not rest.startswith("/") and "?" not in rest


def _connectors(table: Any) -> dict[str, ConnectorSettings]:
    if not isinstance(table, dict):
        raise ConfigError("[connectors] must be a table of connector tables")
    connectors: dict[str, ConnectorSettings] = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"[connectors.{name}] must be a table")
        known = {"enabled", "config", "python", "program", "workers", "typeahead", "cgroup", *LIMIT_KEYS}
        factories = set(entry) & factory_names()
        unknown = set(entry) - known - factories
        if unknown:
            raise ConfigError(
                f"unknown key(s) in [connectors.{name}]: {_named(unknown, known)}"
                f" (the connector's own settings go in [connectors.{name}.config])"
            )
        enabled = _typed(f"connectors.{name}.enabled", entry.get("enabled", True), bool)
        config = entry.get("config", {})
        if not isinstance(config, dict):
            raise ConfigError(f"[connectors.{name}.config] must be a table")
        typeahead = _typeahead_names(name, entry.get("typeahead", {}))
        connectors[name] = ConnectorSettings(
            enabled=enabled,
            config=config,
            typeahead=typeahead,
            built_from=_built_from(name, entry, factories),
            **_isolation(name, entry),
        )
    return connectors


def factory_names() -> frozenset[str]:
    """The keys that name a source to build a connector from: the installed factories' names."""
    return frozenset(point.name for point in entry_points(group=FACTORY_GROUP))


def _built_from(name: str, entry: Mapping[str, Any], factories: set[str]) -> tuple[str, str] | None:
    if not factories:
        return None
    if len(factories) > 1:
        raise ConfigError(f"[connectors.{name}]: give one of {', '.join(sorted(factories))}, not several")
    (factory,) = factories
    source = entry[factory]
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"connectors.{name}.{factory} must be a string (a file or an http(s) URL)")
    if "program" in entry:
        raise ConfigError(
            f"[connectors.{name}]: a connector built from {factory} runs isolated by python, not program"
        )
    return factory, source


def _typeahead_names(name: str, table: Any) -> Mapping[str, str]:
    where = f"[connectors.{name}.typeahead]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table: the connector's category = the name hosts ask for")
    for category, public in table.items():
        if not isinstance(public, str) or not SEGMENT_NAME.fullmatch(public):
            raise ConfigError(
                f"{where} {category}: 1 to 64 letters, digits, '_', '.' or '-' (one path segment)"
            )
    return MappingProxyType(dict(table))


def _isolation(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    where = f"connectors.{name}"
    python = entry.get("python")
    program = entry.get("program", [])
    if python is not None and not isinstance(python, str):
        raise ConfigError(f"{where}.python must be a string (an interpreter's path)")
    if not isinstance(program, list) or not all(isinstance(part, str) for part in program):
        raise ConfigError(f"{where}.program must be a list of strings (a program and its arguments)")
    if python is not None and program:
        raise ConfigError(f"{where}: give python or program, not both")
    workers = _typed(f"{where}.workers", entry.get("workers", 2), int)
    if workers < 1:
        raise ConfigError(f"{where}.workers must be at least 1")
    limits = {key: _typed(f"{where}.{key}", entry[key], int) for key in LIMIT_KEYS if key in entry}
    for key, value in limits.items():
        if value < LIMIT_MINIMUMS[key]:
            raise ConfigError(f"{where}.{key} must be at least {LIMIT_MINIMUMS[key]}")
    if limits.get("min_workers", 0) > workers:
        raise ConfigError(f"{where}.min_workers must be at most {where}.workers ({workers})")
    if limits and python is None and not program:
        raise ConfigError(
            f"{where}: {', '.join(sorted(limits))} apply to isolated workers: give python or program"
        )
    cgroup = _typed(f"{where}.cgroup", entry.get("cgroup", True), bool)
    limited = WorkerLimits(**limits, cgroup=cgroup)
    return {"python": python, "program": tuple(program), "workers": workers, "limits": limited}


LIMIT_KEYS = ("memory_bytes", "cpu_seconds", "max_calls", "max_age_seconds", "min_workers", "idle_seconds")
LIMIT_MINIMUMS = {
    "memory_bytes": 64 * 1024 * 1024,
    "cpu_seconds": 1,
    "max_calls": 1,
    "max_age_seconds": 1,
    "min_workers": 0,
    "idle_seconds": 1,
}
