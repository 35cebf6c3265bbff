"""Settings: every section together, the one object the daemon is handed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector_proxy.config.access import (
    AuthSettings,
    CorsSettings,
    MetricsSettings,
    OAuthSettings,
    SecretsSettings,
)
from connector_proxy.config.connectors import ConnectorSettings, DiscoverySettings
from connector_proxy.config.events import EventSettings, SubscriptionSettings
from connector_proxy.config.jobs import JobSettings
from connector_proxy.config.proxies import ProxySettings
from connector_proxy.config.server import LimitSettings, ServerSettings


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


# the one-table sections, by their names in the file: each key can be overridden from the environment
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
