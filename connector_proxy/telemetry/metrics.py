"""What the daemon counts, and the ``/metrics`` text that reports it.

Every gunicorn worker counts its own calls; with ``PROMETHEUS_MULTIPROC_DIR``
set (``connector-proxy serve`` sets it to a directory of its own) they write
to files there and a scrape answered by any worker sums them all. Job and event
states are read from their stores at scrape time, so they are right whichever
process ran the jobs. Labels only ever hold names from the registry, never
what a client sent: an unknown command is counted under empty labels.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
OK, UPSTREAM_ERROR, PROXY_ERROR = "ok", "upstream_error", "proxy_error"
ABANDONED = "abandoned"  # ended before it answered: its client hung up
JOBS = "connector_proxy_jobs"  # read from the job store when scraped
EVENTS = "connector_proxy_events"  # read from the event store when scraped
JOBS_RECOVERED = "connector_proxy_jobs_recovered"  # read from the job store when scraped (a counter)
# a call waits on upstreams for up to limits.command_timeout (44 s)
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 45.0)

CALLS = Counter(
    "connector_proxy_calls",
    "Calls answered, by command and outcome (ok, upstream_error: the command's own error, proxy_error)",
    ["connector", "command", "outcome", "error_code"],
)
CALL_SECONDS = Histogram(
    "connector_proxy_call_duration_seconds",
    "Time from a call's arrival at the executor to its answer",
    ["connector", "command"],
    buckets=SECONDS,
)
IN_FLIGHT = Gauge(
    "connector_proxy_calls_in_flight", "Calls running now", ["connector"], multiprocess_mode="livesum"
)
OUTBOUND_REFUSALS = Counter(
    "connector_proxy_outbound_refusals",
    "Upstream requests the SDK's bulkhead refused (busy: origin stuck at max_concurrent; line_timeout)",
    ["connector", "kind"],
)
SPANS_DROPPED = Counter(
    "connector_proxy_spans_dropped",
    "Trace spans not sent, by reason (queue_full, export_failed: the collector down, refusing, hung"
    " or failing; shutdown: still queued at a process's exit): tracing never waits for its collector",
    ["reason"],
)


def spans_dropped(reason: str, count: int) -> None:
    """Count spans the exporter gave up on (:mod:`connector_proxy.sdk.exporting`)."""
    SPANS_DROPPED.labels(reason).inc(count)


DEPRECATED_CALLS = Counter(
    "connector_proxy_deprecated_calls",
    "Calls of commands their connector declares deprecated (models that still use them)",
    ["connector", "command"],
)
CALLBACKS = Counter(
    "connector_proxy_callback_deliveries",
    "Callback attempts to the host, by result (delivered, retrying, undeliverable)",
    ["result"],
)
CALLBACK_OUTCOMES = Counter(
    "connector_proxy_callback_outcomes",
    "What the host made of a callback: completed, retry_scheduled (its own retry), taken (a 2xx with"
    " neither word), task_failed (an uncaught error failed the task), refused (final 4xx),"
    " credentials_refused (401/403)",
    ["outcome"],
)
ISOLATED_WORKERS = Gauge(
    "connector_proxy_isolated_workers",
    "Worker processes of isolated connectors alive now",
    ["connector"],
    multiprocess_mode="livesum",
)
EVENTS_RECEIVED = Counter(
    "connector_proxy_events_received",
    "Events from triggers, by subscription and outcome (stored, duplicate: seen before, refused)",
    ["subscription", "outcome"],
)
EVENT_DELIVERIES = Counter(
    "connector_proxy_event_deliveries",
    "Message deliveries to the host, by subscription and result (delivered, retrying, dead)",
    ["subscription", "result"],
)
POLLS = Counter(
    "connector_proxy_polls",
    "Polls run by polling triggers, by subscription and result (ok, failed, lease_lost)",
    ["subscription", "result"],
)
SUBSCRIPTION_REGISTRATIONS = Counter(
    "connector_proxy_subscription_registrations",
    "Webhooks set up or torn down at their source, by subscription and result (registered, failed, removed)",
    ["subscription", "result"],
)
ISOLATED_WORKER_EVENTS = Counter(
    "connector_proxy_isolated_worker_events",
    "Isolated workers started, recycled, stopped_idle and lost (crashed, timed_out, protocol_errors,"
    " failed_to_start, over_limit)",
    ["connector", "event"],
)

CHECKS = Counter(
    "connector_proxy_checks",
    "Live checks of connectors' credentials run, by result (ok, failed)",
    ["connector", "result"],
)


class StoreStates(Collector):
    """A gauge of records per state in a store (``connector_proxy_jobs{state}``), read when scraped."""

    def __init__(self, name: str, documentation: str, counts: Callable[[], Mapping[str, int]]) -> None:
        self._name, self._documentation, self._counts = name, documentation, counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._documentation, labels=["state"])
        try:
            counts = self._counts()
        except Exception:  # an unreachable store is readiness's to report; the scrape still answers
            counts = {}
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family


class StoreCounts(Collector):
    """A counter the store keeps (``connector_proxy_jobs_recovered_total{reason}``): whichever process
    counted (a worker, gunicorn's master, a Celery worker), the scrape reads the one sum."""

    def __init__(self, name: str, documentation: str, counts: Callable[[], Mapping[str, int]]) -> None:
        self._name, self._documentation, self._counts = name, documentation, counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self._name, self._documentation, labels=["reason"])
        try:
            counts = self._counts()
        except Exception:  # an unreachable store is readiness's to report
            counts = {}
        for reason, count in counts.items():
            family.add_metric([reason], count)
        yield family


def exposition(
    job_counts: Callable[[], Mapping[str, int]],
    event_counts: Callable[[], Mapping[str, int]],
    job_recoveries: Callable[[], Mapping[str, int]] = dict,
) -> bytes:
    """The Prometheus text of every worker process (or of this one), plus the job and event states."""
    if os.environ.get(MULTIPROCESS_DIRECTORY):
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    stores = CollectorRegistry(auto_describe=False)
    stores.register(
        StoreStates(JOBS, "Jobs in the job store by state (queued is the queue's depth)", job_counts)
    )
    stores.register(
        StoreStates(EVENTS, "Inbound events in the store by state (pending: not yet delivered)", event_counts)
    )
    stores.register(
        StoreCounts(
            JOBS_RECOVERED,
            "Running jobs queued again because their process died, by reason (restart, worker_exited,"
            " lease_expired)",
            job_recoveries,
        )
    )
    return counted + generate_latest(stores)


class CallTimer:
    """Counts one call: in flight while it runs, then its outcome and its duration."""

    def __init__(self, connector: str, command: str) -> None:
        self.connector, self.command = connector, command
        self.started = time.perf_counter()
        if connector:
            _series(connector, command)[0].inc()

    def done(self, outcome: str, error_code: str) -> None:
        _outcomes(self.connector, self.command, outcome, error_code).inc()
        if self.connector:
            in_flight, seconds = _series(self.connector, self.command)
            in_flight.dec()
            seconds.observe(time.perf_counter() - self.started)


# a labelled series found once (labels() costs a lock and a lookup); every label is a registry name
@functools.lru_cache(maxsize=4096)
def _series(connector: str, command: str) -> tuple[Gauge, Histogram]:
    return IN_FLIGHT.labels(connector), CALL_SECONDS.labels(connector, command)


@functools.lru_cache(maxsize=4096)
def _outcomes(connector: str, command: str, outcome: str, error_code: str) -> Counter:
    return CALLS.labels(connector, command, outcome, error_code)


def exposed_names() -> list[str]:
    """Every metric's name as a scrape shows it (counters end in ``_total``): docs/operating.md lists them."""
    wrappers = (
        CALLS,
        CALL_SECONDS,
        IN_FLIGHT,
        OUTBOUND_REFUSALS,
        CALLBACKS,
        CALLBACK_OUTCOMES,
        ISOLATED_WORKERS,
        ISOLATED_WORKER_EVENTS,
        EVENTS_RECEIVED,
        EVENT_DELIVERIES,
        POLLS,
        SUBSCRIPTION_REGISTRATIONS,
    )
    names = [f"{w._name}_total" if isinstance(w, Counter) else w._name for w in wrappers]
    return [*names, JOBS, EVENTS, f"{JOBS_RECOVERED}_total"]
