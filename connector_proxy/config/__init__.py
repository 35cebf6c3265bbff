"""The one configuration object: ``plugins.toml`` plus environment overrides.

Loaded and validated once at start-up and handed down; no other module reads
files or environment variables for settings. Every daemon setting can be
overridden with ``CONNECTOR_PROXY_<SECTION>_<KEY>`` (lists comma-separated).
Everything importers use is named here (``from connector_proxy.config import Settings``).

Its files, each section's dataclass beside its checks:

- ``loader.py``: the file and the environment read, typed, checked -> Settings (``load_settings``)
- ``settings.py``: ``Settings``, all sections together; ``SECTIONS``, the one-table ones by name
- ``server.py``: ``[server]`` (gunicorn) and ``[limits]`` (what one call may cost)
- ``access.py``: ``[auth]``, ``[cors]``, ``[metrics]``, ``[oauth]``, ``[secrets]``: keys resolved
- ``connectors.py``: ``[discovery]`` and ``[connectors.<name>]``, isolated workers' limits
- ``jobs.py``: ``[jobs]``: background calls, their store and callbacks
- ``events.py``: ``[events]`` and ``[subscriptions.<name>]``: inbound events to the host
- ``proxies.py``: ``[proxies.<name>]``: other connector proxies whose commands join ours
- ``values.py``: ``ConfigError``, a value's type checked, a misspelt name's likely meaning
"""

from __future__ import annotations

from connector_proxy.config.access import (
    ORIGIN,
    AuthSettings,
    CorsSettings,
    MetricsSettings,
    OAuthSettings,
    SecretsSettings,
)
from connector_proxy.config.connectors import (
    LIMIT_KEYS,
    LIMIT_MINIMUMS,
    NO_LIMITS,
    ConnectorSettings,
    DiscoverySettings,
    WorkerLimits,
    factory_names,
)
from connector_proxy.config.events import EventSettings, SubscriptionSettings
from connector_proxy.config.jobs import JobSettings
from connector_proxy.config.loader import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    ENV_PREFIX,
    EnvironmentConfigError,
    config_path,
    load_settings,
    meant_variable,
    read_worker_class,
    unknown_variables,
)
from connector_proxy.config.proxies import PROXY_MODES, ProxySettings
from connector_proxy.config.server import (
    LOG_FORMATS,
    LOG_LEVELS,
    WORKER_CLASSES,
    LimitSettings,
    ServerSettings,
)
from connector_proxy.config.settings import SECTIONS, Settings
from connector_proxy.config.values import SEGMENT_NAME, ConfigError, did_you_mean

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "LIMIT_KEYS",
    "LIMIT_MINIMUMS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "NO_LIMITS",
    "ORIGIN",
    "PROXY_MODES",
    "SECTIONS",
    "SEGMENT_NAME",
    "WORKER_CLASSES",
    "AuthSettings",
    "ConfigError",
    "ConnectorSettings",
    "CorsSettings",
    "DiscoverySettings",
    "EnvironmentConfigError",
    "EventSettings",
    "JobSettings",
    "LimitSettings",
    "MetricsSettings",
    "OAuthSettings",
    "ProxySettings",
    "SecretsSettings",
    "ServerSettings",
    "Settings",
    "SubscriptionSettings",
    "WorkerLimits",
    "config_path",
    "did_you_mean",
    "factory_names",
    "load_settings",
    "meant_variable",
    "read_worker_class",
    "unknown_variables",
]
