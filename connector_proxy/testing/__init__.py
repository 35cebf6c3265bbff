"""The daemon's own test kit: its application in the test's process, the whole daemon started, and
the host it answers and delivers to.

    client = app_client(tmp_path, "[connectors.mine.config]\ntoken = 'env:TOKEN'\n", {"TOKEN": "t"})
    with RunningDaemon(config_path, site=(my_test_site,)) as daemon:
        requests.post(f"{daemon.url}/v1/do/mine/DoIt", json={...})

It lives beside the daemon, not in the SDK, because it builds or starts the daemon; a connector's
own tests need mostly :mod:`connector_proxy.sdk.testing` (``call``, ``succeeded``,
``CallbackReceiver``...), whose old names for what moved here still work, with a DeprecationWarning.
Importing this package loads none of the daemon: ``app_client`` does, when called.

Its files:

- ``app.py``: ``app_client()``: the daemon's application in this process (Flask's test client)
- ``processes.py``: ``RunningDaemon`` (``connector-proxy serve`` under gunicorn), ``moto_server``;
  ``start_owned``/``stop_owned``/``stop_all``: every program a test starts, stopped with all it started;
  ``start_seconds()``: the one start-up deadline
- ``hosts.py``: ``ServiceTaskHost`` (what a SpiffWorkflow backend makes of an answer), ``MessageHost``
  (a host's message API, for inbound events)
"""

from __future__ import annotations

from connector_proxy.testing.app import app_client
from connector_proxy.testing.hosts import ASYNC_REFUSAL, Message, MessageHost, ServiceTaskHost, TaskOutcome
from connector_proxy.testing.processes import (
    SERVE,
    START_SECONDS_ENV,
    RunningDaemon,
    moto_server,
    start_owned,
    start_seconds,
    stop_all,
    stop_owned,
)

__all__ = [
    "ASYNC_REFUSAL",
    "SERVE",
    "START_SECONDS_ENV",
    "Message",
    "MessageHost",
    "RunningDaemon",
    "ServiceTaskHost",
    "TaskOutcome",
    "app_client",
    "moto_server",
    "start_owned",
    "start_seconds",
    "stop_all",
    "stop_owned",
]
