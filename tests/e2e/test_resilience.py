"""A hung upstream and a burst, against the real daemon: the issue's scenarios with small numbers.

``python -m bench --resilience`` runs the same code with the large numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import resilience
from bench.upstreams import Upstream, fast_upstream
from connector_proxy.testing import RunningDaemon

DEADLINE = 2.0
GIVE_UP = 1.0


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with fast_upstream() as running:
        yield running


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    config = tmp_path_factory.mktemp("resilience") / "plugins.toml"
    config.write_text(resilience.CONFIG)  # the default shape: 4 workers x 8 threads, 4 calls per origin
    with RunningDaemon(config) as running:
        yield running


def test_a_hung_upstream_stalls_nothing_else(daemon: RunningDaemon, upstream: Upstream) -> None:
    figures = resilience.hung_upstream(daemon, upstream.url, hung=40, deadline=DEADLINE, give_up=GIVE_UP)

    waited, gave_up = figures.answers[1::2], figures.answers[0::2]
    assert {a.outcome for a in waited} <= {"Timeout", "DestinationBusy"}
    assert {a.outcome for a in gave_up} <= {"no answer", "DestinationBusy"}
    timeouts = [a for a in waited if a.outcome == "Timeout"]
    assert timeouts, "some hung calls got through to the upstream"
    assert all(DEADLINE - 0.1 < a.seconds < DEADLINE + 1.5 for a in timeouts)
    assert all(a.status == 200 for a in waited)
    assert all(a.seconds < 1.0 for a in figures.answers if a.outcome == "DestinationBusy")
    assert figures.liveness_max_ms < 1000  # never queued behind a hung call (bench/RESULTS.md: ~40 ms)
    assert figures.healthy_failures == 0
    assert figures.healthy_rate_during >= figures.healthy_rate_before / 2
    assert figures.open_at_upstream == 0  # every hung connection was closed at its deadline
    assert figures.same_workers


def test_a_burst_gets_an_envelope_for_every_call_and_leaves_memory_flat(
    daemon: RunningDaemon, upstream: Upstream
) -> None:
    figures = resilience.burst(daemon, upstream.url, calls=300, concurrency=32)

    assert figures.outcomes == {"ok": 600}
    assert figures.rss_after_second - figures.rss_after_first < 5  # MiB, over every worker


def test_destination_busy_is_the_documented_envelope(daemon: RunningDaemon, tmp_path: Path) -> None:
    figures = resilience.hung_upstream(daemon, "http://127.0.0.1:9/", hung=24, deadline=1.0, give_up=0.5)

    busy = [a for a in figures.answers if a.outcome == "DestinationBusy"]
    assert busy and all(a.status == 200 and a.is_envelope for a in busy)
