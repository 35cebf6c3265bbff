"""``[server]`` and ``[limits]``: how the daemon serves, and what one call may cost."""

from __future__ import annotations

from dataclasses import dataclass

from connector_proxy.config.values import ConfigError

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("auto", "json", "text")
WORKER_CLASSES = ("gevent", "gthread")


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


def check_server(server: ServerSettings) -> None:
    if server.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"server.log_level must be one of {', '.join(LOG_LEVELS)}")
    if server.log_format not in LOG_FORMATS:
        raise ConfigError(f"server.log_format must be one of {', '.join(LOG_FORMATS)}")
    for key in ("workers", "threads", "worker_connections"):
        if getattr(server, key) < 1:
            raise ConfigError(f"server.{key} must be at least 1")
    if server.worker_class not in WORKER_CLASSES:
        raise ConfigError(f"server.worker_class must be one of {', '.join(WORKER_CLASSES)}")


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


def check_limits(limits: LimitSettings) -> None:
    if limits.max_body_bytes < 1024:
        raise ConfigError("limits.max_body_bytes must be at least 1024")
    if limits.max_model_bytes < 1024:
        raise ConfigError("limits.max_model_bytes must be at least 1024")
    for key in ("command_timeout", "header_timeout", "body_timeout", "typeahead_timeout", "check_timeout"):
        if getattr(limits, key) <= 0:
            raise ConfigError(f"limits.{key} must be positive")
    if limits.typeahead_cache_seconds < 0:
        raise ConfigError("limits.typeahead_cache_seconds must be 0 (no cache) or more")
