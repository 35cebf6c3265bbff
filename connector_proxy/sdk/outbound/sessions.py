"""requests Sessions over the guarded pools: imported by the first ``pooled_session()``, not before.

Most workers never build one (the http connector and the daemon's own deliveries speak urllib3),
and requests brings charset_normalizer and idna with it: kept out of a worker until a connector asks.
"""

from __future__ import annotations

from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from connector_proxy.sdk.destinations import DestinationPolicy
from connector_proxy.sdk.outbound.connections import KEPT_ORIGINS, guarded_pools


def guarded_session(policy: DestinationPolicy, max_redirects: int) -> requests.Session:
    """What :func:`~connector_proxy.sdk.outbound.connections.pooled_session` returns."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = max_redirects
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = _GuardedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: DestinationPolicy) -> None:
        self._policy = policy
        maxsize = policy.max_concurrent
        super().__init__(pool_connections=KEPT_ORIGINS, pool_maxsize=maxsize, max_retries=0, pool_block=True)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = guarded_pools(self._policy)
