"""Outbound HTTP for connectors: pooled, bounded, and refused where the operator says.

The destination policy (``connector_proxy.sdk.destinations``) is checked on
the addresses a name resolves to, when each connection is opened, so a
redirect or a DNS answer that points inside the network is refused like a
direct call.

Connections are pooled per worker, and each origin (scheme, host, port) gets
at most ``max_concurrent`` of them at once (500 by default). The rule that
keeps a slow upstream served and a stuck one from piling up:

- below the cap, a call takes a connection at once;
- at the cap, a call waits in line (first come, first served) up to its own
  deadline, for as long as the origin is moving: a call to it started or
  ended within the last ``stuck_after`` seconds (10 by default);
- an origin at its cap with nothing moving for ``stuck_after`` seconds is
  stuck: new calls are refused at once with ``DestinationBusy`` (503,
  transient) and the calls in line leave with it, until a call to it ends;
- a call whose deadline passes in line ends with a timeout.

    session = pooled_session(DestinationPolicy.from_config(config["destinations"]))
    pool = pool_manager(policy)  # the same guards for code that speaks urllib3

Its files (every name is importable from here, as before the split):

- ``connections.py``: connections checked against the policy; ``pooled_session``, ``pool_manager``;
  ``origin_of`` and ``failure_reason``, what a message may show of a URL and of a failure
- ``sessions.py``: the requests Session ``pooled_session`` builds (requests is imported by the first one)
- ``bulkhead.py``: the pools with a line (the rule above); ``DestinationBusy``, ``DestinationLineTimeout``
- ``bodies.py``: ``read_body``: an answer's body within a size limit and by a deadline
"""

from __future__ import annotations

from connector_proxy.sdk.outbound.bodies import READ_CHUNK, BodyLate, BodyTooLarge, read_body
from connector_proxy.sdk.outbound.bulkhead import (
    LINE_WAIT_OUTSIDE_CALL,
    REQUEST_ID_HEADER,
    DestinationBusy,
    DestinationLineTimeout,
    GuardedHTTPSPool,
    GuardedPool,
)
from connector_proxy.sdk.outbound.connections import (
    KEPT_ORIGINS,
    failure_reason,
    guarded_pools,
    origin_of,
    pool_manager,
    pooled_session,
)

__all__ = [
    "KEPT_ORIGINS",
    "LINE_WAIT_OUTSIDE_CALL",
    "READ_CHUNK",
    "REQUEST_ID_HEADER",
    "BodyLate",
    "BodyTooLarge",
    "DestinationBusy",
    "DestinationLineTimeout",
    "GuardedHTTPSPool",
    "GuardedPool",
    "failure_reason",
    "guarded_pools",
    "origin_of",
    "pool_manager",
    "pooled_session",
    "read_body",
]
