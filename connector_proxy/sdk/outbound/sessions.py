"""requests Sessions over the guarded pools: imported by the first ``pooled_session()``, not before.

Most workers never build one (the http connector and the daemon's own deliveries speak urllib3),
and requests brings charset_normalizer and idna with it: kept out of a worker until a connector asks.
"""

from __future__ import annotations

from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool


def guarded_session(
    pools: dict[str, type[HTTPConnectionPool]], kept_origins: int, max_concurrent: int, max_redirects: int
) -> requests.Session:
    """What :func:`~connector_proxy.sdk.outbound.connections.pooled_session` returns: its connections
    come from ``pools`` (the guarded pool classes by scheme), ``max_concurrent`` at most per origin."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = max_redirects
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = _GuardedAdapter(pools, kept_origins, max_concurrent)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _GuardedAdapter(HTTPAdapter):
    def __init__(
        self, pools: dict[str, type[HTTPConnectionPool]], kept_origins: int, max_concurrent: int
    ) -> None:
        self._pools = pools
        super().__init__(
            pool_connections=kept_origins, pool_maxsize=max_concurrent, max_retries=0, pool_block=True
        )

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._pools)
