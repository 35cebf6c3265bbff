"""What the command line says to the person who typed: errors that name the cause and the way out."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.support import CLI, SITE, TEST_CONFIG, TEST_ENV


def run(
    folder: Path, *arguments: str, config: str | None = TEST_CONFIG, **env: str
) -> subprocess.CompletedProcess[str]:
    """The command in ``folder``, with its plugins.toml (none when ``config`` is None)."""
    if config is not None:
        (folder / "plugins.toml").write_text(config)
    environ = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SITE), **TEST_ENV, **env}
    return subprocess.run(
        [*CLI, *arguments], env=environ, cwd=folder, capture_output=True, text=True, timeout=60
    )


def test_a_port_in_use_names_bind_and_ends_at_once(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(tmp_path, "serve", "--bind", f"127.0.0.1:{port}")
        from_file = run(tmp_path, "serve", config=f'[server]\nbind = "127.0.0.1:{port}"\n')

    assert done.returncode == 2 and f"127.0.0.1:{port} is in use" in done.stderr
    assert "--bind HOST:PORT" in done.stderr and "Errno" not in done.stderr
    assert from_file.returncode == 2 and "server.bind in plugins.toml" in from_file.stderr


def test_an_environment_override_is_named_as_such(tmp_path: Path) -> None:
    done = run(tmp_path, "check", CONNECTOR_PROXY_LIMITS_MAX_BODY_BYTES="100")
    typed = run(tmp_path, "check", CONNECTOR_PROXY_SERVER_WORKERS="many")

    assert done.returncode == 2
    assert "configuration error in the environment" in done.stderr and "plugins.toml" not in done.stderr
    assert "CONNECTOR_PROXY_LIMITS_MAX_BODY_BYTES" in done.stderr and "at least 1024" in done.stderr
    assert typed.returncode == 2 and "in the environment: CONNECTOR_PROXY_SERVER_WORKERS" in typed.stderr


def test_a_missing_configuration_names_where_it_was_looked_for(tmp_path: Path) -> None:
    done = run(tmp_path, "check", config=None)

    assert done.returncode == 2
    assert f"no configuration file at {tmp_path / 'plugins.toml'}" in done.stderr
    assert "--config" in done.stderr and "CONNECTOR_PROXY_CONFIG" in done.stderr


def test_validate_names_a_daemon_that_does_not_answer_in_words(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: a refused connection
        model = tmp_path / "m.bpmn"
        model.write_text("<definitions/>")
        done = run(tmp_path, "validate", "--url", f"http://127.0.0.1:{port}", str(model))

    assert done.returncode == 2
    assert f"nothing answers at http://127.0.0.1:{port}" in done.stderr
    assert "HTTPConnectionPool" not in done.stderr and "Errno" not in done.stderr


def test_call_hints_at_json_for_a_value_given_as_text(tmp_path: Path) -> None:
    done = run(tmp_path, "call", "sample/Greet", "name=Ada", "times=2")
    listed = run(tmp_path, "call", "sample/Greet", "name=Ada", "tags=a")

    assert done.returncode == 1 and "hint: times was given as text" in done.stderr
    assert "times:=2" in done.stderr
    assert """tags:='["a"]'""" in listed.stderr


def test_did_you_mean_for_actions_options_keys_and_variables(tmp_path: Path) -> None:
    action = run(tmp_path, "serv")
    option = run(tmp_path, "serve", "--bindd", "127.0.0.1:1")
    key = run(tmp_path, "check", config='[server]\nbindd = "127.0.0.1:1"\n')
    variable = run(tmp_path, "check", CONNECTOR_PROXY_SERVER_WORKRS="2")

    assert action.returncode == 2 and "(did you mean serve?)" in action.stderr
    assert option.returncode == 2 and "(did you mean --bind?)" in option.stderr
    assert key.returncode == 2 and "unknown key(s) in [server]: bindd (did you mean bind?)" in key.stderr
    assert (
        "CONNECTOR_PROXY_SERVER_WORKRS is not a setting (did you mean CONNECTOR_PROXY_SERVER_WORKERS?)"
        in (variable.stderr)
    )


def test_list_fits_the_terminal_and_commands_log_sentences(tmp_path: Path) -> None:
    narrow = run(tmp_path, "list", COLUMNS="80")
    table = narrow.stdout.split("\n\n", 1)[0].splitlines()
    logged = run(tmp_path, "call", "sample/Greet", "name=Ada")  # the site's broken connector is logged

    assert narrow.returncode == 0, narrow.stderr
    assert len(table) > 10 and max(len(line) for line in table) <= 80
    assert any(line.endswith("…") for line in table)
    assert "connector-proxy: error: connector broken failed to import (ImportError: " in logged.stderr
    assert all(line.startswith("connector-proxy: ") for line in logged.stderr.splitlines())
    assert "Traceback" not in logged.stderr and '{"time"' not in logged.stderr
