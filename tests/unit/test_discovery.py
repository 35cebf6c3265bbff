from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

from connector_proxy.calls.discovery import GROUP, discover
from tests.support import TEST_CONFIG, TEST_ENV, settings_from


def states(tmp_path: Path, toml: str = TEST_CONFIG, environ: dict[str, str] | None = None) -> dict[str, str]:
    registry = discover(settings_from(tmp_path, toml, environ)).registry
    return {status.name: status.state for status in registry.statuses}


def test_every_installed_connector_is_reported_and_broken_ones_are_left_out(tmp_path: Path) -> None:
    registry = discover(settings_from(tmp_path)).registry
    by_name = {status.name: status for status in registry.statuses}

    assert by_name["sample"].state == "ready"
    assert by_name["http"].state == "ready"
    assert by_name["broken"].state == "import_error"
    assert "an_sdk_that_is_not_installed" in (by_name["broken"].detail or "")
    assert by_name["misnamed"].state == "invalid"
    assert by_name["notaconnector"].state == "invalid"
    assert by_name["sample"].version == "1.2.3"
    assert by_name["sample"].distribution == "sample-connectors"
    assert registry.ready == ("aws", "http", "os", "sample", "unruly")
    assert {command.split("/")[0] for command in registry.commands} == {
        "aws",
        "http",
        "os",
        "sample",
        "unruly",
    }


def test_aliases_point_at_their_command(tmp_path: Path) -> None:
    registry = discover(settings_from(tmp_path)).registry
    catalog = {entry["id"]: entry for entry in json.loads(registry.catalog_json)}

    assert registry.find("sample/Hello") is registry.find("sample/Greet")
    assert catalog["sample/Hello"]["alias_of"] == "sample/Greet"
    assert catalog["http/GetRequest"]["alias_of"] == "http/GetRequestV2"  # the V2 ids are the commands
    assert catalog["sample/Greet"]["alias_of"] is None


def test_a_missing_secret_reference_is_a_config_error(tmp_path: Path) -> None:
    registry = discover(settings_from(tmp_path, environ={})).registry
    sample = next(status for status in registry.statuses if status.name == "sample")

    assert sample.state == "config_error"
    assert sample.detail == "environment variable SAMPLE_TOKEN is not set"
    assert registry.find("sample/Greet") is None
    assert registry.find("http/GetRequest") is not None  # the others serve


def test_an_invalid_secret_is_named_but_never_shown(tmp_path: Path) -> None:
    registry = discover(settings_from(tmp_path, environ={"SAMPLE_TOKEN": "abc"})).registry
    sample = next(status for status in registry.statuses if status.name == "sample")

    assert sample.state == "config_error"
    assert sample.detail == "token: must be at least 4 characters long"
    assert b"abc" not in registry.connectors_json


def test_secrets_are_masked_in_the_status(tmp_path: Path) -> None:
    toml = TEST_CONFIG.replace('token = "env:SAMPLE_TOKEN"', 'token = "plain-text-token"')
    registry = discover(settings_from(tmp_path, toml)).registry
    shown = json.loads(registry.connectors_json)
    sample = next(entry for entry in shown if entry["name"] == "sample")

    assert sample["config"] == {"token": "********", "greeting": "Hello"}
    assert b"plain-text-token" not in registry.connectors_json
    assert TEST_ENV["SAMPLE_TOKEN"].encode() not in registry.connectors_json


def test_disabled_and_unlisted_connectors_are_not_loaded(tmp_path: Path) -> None:
    disabled = TEST_CONFIG + "\n[connectors.broken]\nenabled = false\n"
    assert states(tmp_path, disabled)["broken"] == "disabled"

    only_listed = "[discovery]\nenable_unlisted = false\n" + TEST_CONFIG
    found = states(tmp_path, only_listed)
    assert found["sample"] == "ready"
    assert found["misnamed"] == "disabled"


def test_a_configured_connector_that_is_not_installed_is_reported(tmp_path: Path) -> None:
    found = states(tmp_path, TEST_CONFIG + "\n[connectors.salesforce]\nenabled = true\n")
    assert found["salesforce"] == "not_installed"


def test_two_packages_with_one_name_keep_the_first(tmp_path: Path) -> None:
    points = [
        EntryPoint("sample", "sample_connectors:sample", GROUP),
        EntryPoint("sample", "sample_connectors:misnamed", GROUP),
    ]
    registry = discover(settings_from(tmp_path), points).registry

    samples = [status.state for status in registry.statuses if status.name == "sample"]
    assert samples == ["ready", "duplicate"]


def test_setup_runs_once_and_its_resources_reach_commands(tmp_path: Path) -> None:
    registry = discover(settings_from(tmp_path)).registry
    bound = registry.find("sample/Greet")

    assert bound is not None
    assert bound.resources == {"prefix": "Hello"}
    assert bound.defaults == {"times": 1, "style": "plain"}
