"""GET /v1/typeahead/<category>: as the host calls it, with no API key, for the categories the operator
opened; every category for a caller holding the key."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from connector_proxy.web.state import proxy_state_of
from tests.support import TEST_CONFIG, TEST_ENV, Daemon, client_from, wait_until

OPENED = TEST_CONFIG + '[connectors.sample.typeahead]\ncolours = "sample.colours"\nbroken = "sample.broken"\n'
KEYED = '[auth]\napi_keys = ["k-123456"]\n'


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return client_from(tmp_path, OPENED)


def test_suggestions_match_the_prefix_up_to_the_limit(client: FlaskClient) -> None:
    every = client.get("/v1/typeahead/sample/colours?prefix=b")
    some = client.get("/v1/typeahead/sample/colours?prefix=b&limit=2")
    none = client.get("/v1/typeahead/sample/colours?prefix=zz")

    assert every.status_code == 200 and every.get_json() == ["beige", "black", "blue", "brown"]
    assert some.get_json() == ["beige", "black"]
    assert none.get_json() == []


def test_bad_arguments_and_unknown_categories_get_envelopes(client: FlaskClient) -> None:
    unknown = client.get("/v1/typeahead/sample/flavours?prefix=a")
    bad_limit = client.get("/v1/typeahead/sample/colours?limit=0")
    huge_limit = client.get("/v1/typeahead/sample/colours?limit=99999")
    long_prefix = client.get("/v1/typeahead/sample/colours?prefix=" + "a" * 300)

    assert unknown.status_code == 404 and unknown.get_json()["error"]["error_code"] == "TypeaheadNotFound"
    for answer in (bad_limit, huge_limit):
        assert answer.status_code == 400
        assert answer.get_json()["error"]["details"] == [
            {"field": "limit", "problem": "must be a whole number from 1 to 1000"}
        ]
    assert long_prefix.status_code == 400 and "prefix" in long_prefix.get_json()["error"]["message"]


def test_a_failing_category_answers_an_envelope_not_a_traceback(client: FlaskClient) -> None:
    answer = client.get("/v1/typeahead/sample/broken?prefix=a")

    assert answer.status_code == 500
    assert answer.get_json()["error"]["error_code"] == "InternalError"
    assert "on purpose" not in answer.get_data(as_text=True)  # the exception's text stays in the log


def test_only_opened_categories_are_served_without_the_key(tmp_path: Path) -> None:
    (tmp_path / "opened").mkdir()
    (tmp_path / "closed").mkdir()
    opened = client_from(tmp_path / "opened", OPENED + KEYED)
    closed = client_from(tmp_path / "closed", TEST_CONFIG + KEYED)
    key = {"Spiff-Connector-Proxy-Api-Key": "k-123456"}

    assert opened.get("/v1/typeahead/sample/colours?prefix=a").get_json() == ["amber", "azure"]
    assert opened.get("/v1/commands").status_code == 401  # everything else needs the key
    refused = closed.get("/v1/typeahead/sample/colours?prefix=a")
    assert refused.status_code == 404 and refused.get_json()["error"]["error_code"] == "TypeaheadNotFound"
    assert closed.get("/v1/typeahead/sample.colours?prefix=a", headers=key).get_json() == ["amber", "azure"]
    wrong_key = closed.get(
        "/v1/typeahead/sample/colours?prefix=a", headers={**key, "Spiff-Connector-Proxy-Api-Key": "no"}
    )
    assert wrong_key.status_code == 404


def test_a_category_answers_to_one_path_segment_as_a_spiffworkflow_form_asks(client: FlaskClient) -> None:
    """The backend's relay passes one segment on: <connector>.<name> by default."""
    one_segment = client.get("/v1/typeahead/sample.colours?prefix=b&limit=2")
    two_segments = client.get("/v1/typeahead/sample/colours?prefix=b&limit=2")

    assert one_segment.status_code == 200 and one_segment.get_json() == ["beige", "black"]
    assert two_segments.get_json() == one_segment.get_json()


def test_the_operator_names_a_category_and_a_clash_is_refused(tmp_path: Path) -> None:
    toml = TEST_CONFIG + '[connectors.sample.typeahead]\ncolours = "paints"\nflavours = "ices"\n'
    client = client_from(tmp_path, toml)
    registry = proxy_state_of(client.application).registry

    assert client.get("/v1/typeahead/paints?prefix=az").get_json() == ["azure"]
    assert client.get("/v1/typeahead/sample.colours").status_code == 404  # renamed: the default is gone
    assert client.get("/v1/typeahead/sample/colours?prefix=az").get_json() == ["azure"]
    assert registry.typeahead_problems == (
        "[connectors.sample.typeahead] flavours: the connector offers no such category",
    )


def test_two_categories_wanting_one_name_get_neither(tmp_path: Path) -> None:
    toml = TEST_CONFIG + '[connectors.sample.typeahead]\ncolours = "shared"\nbroken = "shared"\n'
    client = client_from(tmp_path, toml)
    registry = proxy_state_of(client.application).registry

    assert client.get("/v1/typeahead/shared").status_code == 404
    assert registry.typeahead_problems == (
        "typeahead name 'shared' is wanted by sample/broken and sample/colours: neither has it",
    )


def test_answers_are_kept_for_the_configured_time_through_the_daemon(tmp_path: Path) -> None:
    """One worker: the same category, prefix and limit within limits.typeahead_cache_seconds cost the
    connector nothing; another prefix, or the same after the time, asks it again."""
    config = tmp_path / "plugins.toml"
    config.write_text(
        "[server]\nworkers = 1\n[limits]\ntypeahead_cache_seconds = 1.0\n"
        + TEST_CONFIG
        + '[connectors.sample.typeahead]\nasked = "asked"\n'
    )
    with Daemon(config, TEST_ENV, tmp_path / "daemon.log") as daemon:

        def ask(prefix: str) -> list[str]:
            answer: list[str] = requests.get(
                f"{daemon.url}/v1/typeahead/asked?prefix={prefix}", timeout=5
            ).json()
            return answer

        began = time.monotonic()
        first, again, other = ask("a"), ask("a"), ask("b")
        # asked again while kept, each costs the connector nothing; once the time has passed, it asks
        later = wait_until(lambda: (seen := ask("a")) != ["a1"] and seen, 20, "the kept answer expiring")
        kept_for = time.monotonic() - began

    assert (first, again, other, later) == (["a1"], ["a1"], ["b2"], ["a3"])
    assert kept_for >= 1.0  # not before typeahead_cache_seconds
