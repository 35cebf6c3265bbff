from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connector_proxy.config import ConfigError, config_path, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    settings = load_settings(None, {})

    assert settings.server.bind == "127.0.0.1:7004"
    assert settings.auth.api_keys == ()
    assert settings.limits.command_timeout < 45  # the host gives up at 45 s
    assert settings.connectors == {}


def test_the_repository_configuration_loads() -> None:
    settings = load_settings(Path(__file__).parents[2] / "plugins.toml", {})

    assert settings.server.bind == "127.0.0.1:7004"
    assert settings.connector("http") is not None


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nworkers = 3\nbind = "127.0.0.1:9000"\n[limits]\ncommand_timeout = 5\n')
    environ = {
        "CONNECTOR_PROXY_SERVER_WORKERS": "5",
        "CONNECTOR_PROXY_SERVER_ACCESS_LOG": "yes",
        "CONNECTOR_PROXY_AUTH_API_KEYS": "env:KEY_ONE, plain-key-two",
        "KEY_ONE": "first-key",
    }
    settings = load_settings(path, environ)

    assert settings.server.workers == 5
    assert settings.server.bind == "127.0.0.1:9000"
    assert settings.server.access_log is True
    assert settings.limits.command_timeout == 5.0
    assert settings.auth.api_keys == ("first-key", "plain-key-two")


def test_api_keys_from_files_lose_their_trailing_newline(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n")
    path = write(tmp_path, f'[auth]\napi_keys = ["file:{key_file}"]\n')

    assert load_settings(path, {}).auth.api_keys == ("from-a-file",)


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[serve]\n", {}, "unknown section(s): serve (did you mean server?)"),
        ("[server]\nworker = 2\n", {}, "unknown key(s) in [server]: worker"),
        ('[server]\nworkers = "two"\n', {}, "server.workers must be an integer, got str"),
        ("[server]\nworkers = true\n", {}, "server.workers must be an integer, got bool"),
        ("", {"CONNECTOR_PROXY_SERVER_THREADS": "many"}, "CONNECTOR_PROXY_SERVER_THREADS must be an integer"),
        ('[auth]\napi_keys = ["env:MISSING_KEY"]\n', {}, "environment variable MISSING_KEY is not set"),
        ('[auth]\napi_keys = ["file:/nonexistent/key"]\n', {}, "cannot read /nonexistent/key"),
        ('[auth]\nopen_paths = ["/typeahead"]\n', {}, "must start with /v1/"),
        ("[limits]\ncommand_timeout = 0\n", {}, "limits.command_timeout must be positive"),
        ('[server]\nlog_level = "loud"\n', {}, "server.log_level must be one of debug, info"),
        ("[connectors.http]\nmax_timeout = 3\n", {}, "go in [connectors.http.config]"),
        ("[server\n", {}, "is not valid TOML"),
    ],
)
def test_bad_configuration_names_the_key(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text), environ)
    assert message in str(raised.value)


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no configuration file at"):
        load_settings(tmp_path / "absent.toml", {})


def test_config_path_precedence() -> None:
    assert config_path("given.toml", {"CONNECTOR_PROXY_CONFIG": "env.toml"}) == Path("given.toml")
    assert config_path(None, {"CONNECTOR_PROXY_CONFIG": "env.toml"}) == Path("env.toml")
    assert config_path(None, {}) == Path("plugins.toml")


@pytest.mark.parametrize("action", ["serve", "worker"])
def test_the_celery_backend_without_its_extra_says_what_to_install(tmp_path: Path, action: str) -> None:
    """The CLI as run, with the celery package made unimportable (as in an install without the extra)."""
    config = tmp_path / "plugins.toml"
    config.write_text('[jobs]\nbackend = "celery"\n')
    without_celery = (
        "import sys; sys.modules['celery'] = None; from connector_proxy.cli.main import main;"
        f"sys.exit(main([{action!r}, '--config', {str(config)!r}]))"
    )
    ran = subprocess.run([sys.executable, "-c", without_celery], capture_output=True, text=True, timeout=60)

    assert ran.returncode == 2, ran.stderr
    assert (
        "pip install -c constraints.txt './[celery]'" in ran.stderr
        and "celery is not installed" in ran.stderr
    )
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize("url", ["proxy.example.com", "ftp://proxy.example.com", "https://p.example/?a=1"])
def test_events_public_url_is_a_plain_http_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"events\.public_url"):
        load_settings(write(tmp_path, f'[events]\npublic_url = "{url}"\n'), {})
    fine = load_settings(write(tmp_path, '[events]\npublic_url = "https://proxy.example.com/base/"\n'), {})
    assert fine.events.public_url == "https://proxy.example.com/base/"


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[events]\nlease_seconds = nan\n", {}, "events.lease_seconds must be a finite number"),
        ("[jobs]\ncommand_timeout = inf\n", {}, "jobs.command_timeout must be a finite number"),
        (
            "",
            {"CONNECTOR_PROXY_LIMITS_CHECK_TIMEOUT": "nan"},
            "CONNECTOR_PROXY_LIMITS_CHECK_TIMEOUT must be a finite number",
        ),
        (
            "",
            {"CONNECTOR_PROXY_EVENTS_KEEP_DELIVERED": "-inf"},
            "CONNECTOR_PROXY_EVENTS_KEEP_DELIVERED must be a finite number",
        ),
    ],
)
def test_a_number_that_is_not_finite_is_refused_naming_the_key(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    """TOML and float() both read nan and inf; no timeout, lease or age is either (nan compares false
    with everything, so every "must be positive" check let it through)."""
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text), environ)
    assert message in str(raised.value)


def test_a_refused_value_that_may_hold_a_token_is_named_never_quoted(tmp_path: Path) -> None:
    """A URL refused for its query, or a header line without its colon, may carry a token: the message
    names the key (and position), never the value."""
    url = "https://u:pw-0123456789@h.example/?token=tk-0123456789"
    cases = {
        f'[events]\nhost_url = "{url}"\n': "events.host_url",
        f'[events]\npublic_url = "{url}"\n': "events.public_url",
        f'[jobs]\nrelay_url = "{url}"\n': "jobs.relay_url",
        '[jobs]\ncallback_headers = ["X-A: 1", "Authorization Bearer tk-0123456789"]\n': (
            "jobs.callback_headers[1]"
        ),
    }
    for text, key in cases.items():
        with pytest.raises(ConfigError) as raised:
            load_settings(write(tmp_path, text), {})
        assert key in str(raised.value)
        assert "tk-0123456789" not in str(raised.value) and "pw-0123456789" not in str(raised.value)


@pytest.mark.parametrize("name", [".", ".."])
def test_a_subscription_named_by_a_dot_segment_is_refused(tmp_path: Path, name: str) -> None:
    """Its URL can never be built (url_path refuses a dot segment, so the registrar's turn raised at it
    and no subscription after it was set up) nor reached (a client resolves the dots away)."""
    text = (
        f'[events]\nhost_url = "http://h.example/"\n[subscriptions."{name}"]\n'
        'trigger = "http/webhook"\nmessage = "m"\n'
    )
    with pytest.raises(ConfigError, match=r"a name is 1 to 64"):
        load_settings(write(tmp_path, text), {})
    text = text.replace(f'"{name}"', '"..."')  # three dots are a plain segment
    assert list(load_settings(write(tmp_path, text), {}).subscriptions) == ["..."]
