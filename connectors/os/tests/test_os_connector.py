"""The os connector with real processes and real files in temporary directories."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from connector_proxy.sdk.testing import CallbackReceiver, call, completed, succeeded, wait_until
from connector_proxy.testing import RunningDaemon, app_client

ENV = {"DAEMON_SECRET": "must-not-leak"}  # the daemon's own environment: no child may see it


def os_config(root: Path, extra: str = "") -> str:
    return f"""
[jobs]
sqlite_path = "jobs.sqlite3"
[connectors.os.config]
roots = ["{root}"]
settable_env = ["GREETING"]
max_output_bytes = 1000
timeout = 10
[connectors.os.config.programs.echo]
[connectors.os.config.programs.printenv]
[connectors.os.config.programs.false]
[connectors.os.config.programs.sh]
[connectors.os.config.programs.python]
path = "{sys.executable}"
[connectors.os.config.programs.words]
path = "echo"
args = ["[a-z]+"]
max_args = 2
{extra}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def client(tmp_path: Path, root: Path) -> FlaskClient:
    return app_client(tmp_path, os_config(root), ENV)


def do(client: FlaskClient, command: str, **parameters: Any) -> dict[str, Any]:
    return completed(client, f"os/{command}", **parameters)


def ok(client: FlaskClient, command: str, **parameters: Any) -> Any:
    return succeeded(client, f"os/{command}", **parameters)


def code(client: FlaskClient, command: str, **parameters: Any) -> str:
    error = do(client, command, **parameters)["error"]
    assert error is not None
    return str(error["error_code"])


def test_an_allowed_program_runs_and_answers_its_output(client: FlaskClient) -> None:
    answer = ok(client, "RunCommand", program="echo", args=["hello", "world"])

    assert answer["exit_code"] == 0 and answer["stdout"] == "hello world\n" and answer["stderr"] == ""
    assert answer["stdout_truncated"] is False and answer["duration_ms"] >= 0


def test_stdin_cwd_and_settable_environment(client: FlaskClient, root: Path) -> None:
    (root / "sub").mkdir()
    script = "import os, sys; print(sys.stdin.read().upper(), os.getcwd(), os.environ['GREETING'])"

    answer = ok(
        client,
        "RunCommand",
        program="python",
        args=["-c", script],
        stdin="hi",
        cwd="sub",
        env={"GREETING": "hej"},
    )

    assert answer["stdout"].split() == ["HI", str(root / "sub"), "hej"]


def test_the_child_gets_a_clean_environment(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAEMON_SECRET", "must-not-leak")

    names = {
        line.split("=", 1)[0] for line in ok(client, "RunCommand", program="printenv")["stdout"].splitlines()
    }

    assert names <= {"PATH", "LANG", "LC_ALL", "TZ"}
    assert code(client, "RunCommand", program="printenv", env={"LD_PRELOAD": "/tmp/x.so"}) == "EnvNotAllowed"


def test_refusals_run_nothing(client: FlaskClient, root: Path) -> None:
    marker = root / "ran"

    assert code(client, "RunCommand", program="touch", args=[str(marker)]) == "ProgramNotAllowed"
    assert code(client, "RunCommand", program="/usr/bin/touch", args=[str(marker)]) == "ProgramNotAllowed"
    assert code(client, "RunCommand", program="words", args=["--help"]) == "ArgumentNotAllowed"
    assert code(client, "RunCommand", program="words", args=["a", "b", "c"]) == "ArgumentNotAllowed"
    assert code(client, "RunCommand", program="echo", cwd="/") == "PathOutsideRoots"
    assert ok(client, "RunCommand", program="words", args=["fine"])["stdout"] == "fine\n"
    assert not marker.exists()


def test_shell_metacharacters_are_passed_literally(client: FlaskClient, root: Path) -> None:
    tricky = f"$(touch {root}/pwned); `id` | cat > {root}/x && echo $HOME *"

    answer = ok(client, "RunCommand", program="echo", args=[tricky])

    assert answer["stdout"] == tricky + "\n"
    assert sorted(os.listdir(root)) == []


def test_a_non_zero_exit_is_an_error_unless_allowed(client: FlaskClient) -> None:
    failed = do(client, "RunCommand", program="false")
    allowed = ok(client, "RunCommand", program="false", allow_nonzero=True)

    assert failed["error"]["error_code"] == "NonZeroExit"
    assert failed["command_response"]["body"]["exit_code"] == 1  # the output travels with the error
    assert allowed["exit_code"] == 1


def test_a_program_that_closes_its_pipes_before_exiting_keeps_its_exit_status(client: FlaskClient) -> None:
    early_closer = "exec >&- 2>&-; sleep 0.2"  # both pipes at their end 0.2 s before it exits 0

    answers = [ok(client, "RunCommand", program="sh", args=["-c", early_closer]) for _ in range(5)]

    assert [answer["exit_code"] for answer in answers] == [0] * 5
    assert min(answer["duration_ms"] for answer in answers) >= 200  # it was waited for, not killed


def test_hundreds_of_echoes_beside_a_cpu_hog_all_exit_zero(client: FlaskClient) -> None:
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # the pipes' end races the exit
    try:
        codes = [do(client, "RunCommand", program="echo", args=[str(n)]) for n in range(400)]
    finally:
        hog.kill()
        hog.wait()

    assert [answer["error"] for answer in codes if answer["error"]] == []
    outputs = [answer["command_response"]["body"]["stdout"] for answer in codes]
    assert outputs == [f"{n}\n" for n in range(400)]


def test_a_hung_program_is_killed_with_its_children(client: FlaskClient, root: Path) -> None:
    script = f"sleep 60 & echo $! > {root}/child; sleep 60"

    started = time.monotonic()
    assert code(client, "RunCommand", program="sh", args=["-c", script], timeout=1) == "Timeout"

    assert time.monotonic() - started < 5
    child = int((root / "child").read_text())
    wait_ended(child)
    assert not running(child)


def wait_ended(*pids: int, seconds: float = 10) -> None:
    """Until none of ``pids`` runs: a kill is sent at once, its end is seen a moment later."""
    wait_until(lambda: not any(running(pid) for pid in pids), seconds, f"the end of {pids}")


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan killed here may wait for a reaper that never comes)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_flood_of_output_is_truncated_or_refused(tmp_path: Path, client: FlaskClient, root: Path) -> None:
    flood = ["-c", "import sys; sys.stdout.write('x' * 5_000_000); sys.stderr.write('done')"]

    truncated = ok(client, "RunCommand", program="python", args=flood)
    strict = app_client(
        tmp_path,
        os_config(root, "").replace("timeout = 10", 'timeout = 10\non_output_overflow = "fail"'),
        ENV,
    )

    assert (len(truncated["stdout"]), truncated["stdout_truncated"]) == (1000, True)
    assert (truncated["stderr"], truncated["stderr_truncated"]) == ("done", False)
    assert code(strict, "RunCommand", program="python", args=flood) == "OutputTooLarge"


def test_files_inside_the_roots(client: FlaskClient, root: Path) -> None:
    ok(client, "WriteFile", path="notes/a.txt", content="one\n", make_dirs=True)
    ok(client, "WriteFile", path="notes/a.txt", content="two\n", mode="append")
    ok(client, "WriteFile", path=str(root / "b.bin"), content="AAEC/w==", encoding="base64")

    assert ok(client, "ReadFile", path="notes/a.txt")["content"] == "one\ntwo\n"
    assert ok(client, "ReadFile", path="b.bin")["encoding"] == "base64"
    assert (root / "b.bin").read_bytes() == b"\x00\x01\x02\xff"
    assert code(client, "WriteFile", path="notes/a.txt", content="x", mode="create") == "FileExists"
    listed = ok(client, "ListDirectory", path="notes")
    assert [(e["name"], e["type"], e["size"]) for e in listed["entries"]] == [("a.txt", "file", 8)]
    ok(client, "DeleteFile", path="notes/a.txt")
    assert code(client, "ReadFile", path="notes/a.txt") == "FileNotFound"
    assert code(client, "DeleteFile", path="notes") == "NotAFile"


def test_traversal_and_symlinks_cannot_leave_the_roots(
    client: FlaskClient, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (root / "link").symlink_to(outside)
    (root / "dirlink").symlink_to(tmp_path)

    for path in ("../outside.txt", str(outside), "link", "dirlink/outside.txt", "/etc/passwd"):
        assert code(client, "ReadFile", path=path) == "PathOutsideRoots", path
    assert code(client, "WriteFile", path="link", content="overwritten") == "PathOutsideRoots"
    assert code(client, "DeleteFile", path="../outside.txt") == "PathOutsideRoots"
    assert code(client, "ListDirectory", path="..") == "PathOutsideRoots"
    assert outside.read_text() == "secret"


def test_nothing_is_allowed_until_the_operator_says_so(tmp_path: Path) -> None:
    bare = app_client(tmp_path, "[connectors.os.config]\n", ENV)

    assert code(bare, "RunCommand", program="echo") == "ProgramNotAllowed"
    assert code(bare, "ReadFile", path="/etc/hostname") == "PathOutsideRoots"


def test_a_missing_program_stops_the_connector_at_start_up(tmp_path: Path) -> None:
    config = '[connectors.os.config.programs.nope]\npath = "no-such-program"\n'
    status, answer = call(app_client(tmp_path, config, ENV), "os/RunCommand", {"program": "nope"})

    assert status == 503 and answer["error"]["error_code"] == "ConnectorUnavailable"  # left out: setup_error
    assert "(setup_error)" in answer["error"]["message"]


def test_a_spawned_process_result_reaches_the_callback_through_the_daemon(tmp_path: Path, root: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(os_config(root))
    receiver = CallbackReceiver()
    daemon = RunningDaemon(config, ENV, output=(tmp_path / "daemon.log").open("wb"))
    try:
        daemon.wait_ready()
        accepted = requests.post(
            f"{daemon.url}/v1/do/os/SpawnProcess",
            json={
                "program": "sh",
                "args": ["-c", "sleep 0.5; echo built"],
                "spiff__task_id": "t-1",
                "spiff__callback_url": f"{receiver.url}/callback/t-1",
                "spiff__task_data": {},
            },
            timeout=10,
        )
        [(path, envelope)] = receiver.wait_for(1, seconds=20)
    finally:
        daemon.stop()
        receiver.close()

    assert accepted.status_code == 202
    assert path == "/callback/t-1"
    assert envelope["error"] is None and envelope["command_response"]["body"]["stdout"] == "built\n"


def test_delete_file_on_a_symlink_deletes_the_link_not_its_target(root: Path, tmp_path: Path) -> None:
    (root / "kept.txt").write_text("keep me")
    (root / "link").symlink_to(root / "kept.txt")
    config = tmp_path / "plugins.toml"
    config.write_text(os_config(root))
    with RunningDaemon(config, environ=ENV) as running:
        running.wait_ready()
        answer = requests.post(f"{running.url}/v1/do/os/DeleteFile", json={"path": "link"}, timeout=10).json()

    assert answer["error"] is None
    assert not (root / "link").is_symlink()
    assert (root / "kept.txt").read_text() == "keep me"


def test_the_programs_category_lists_the_allowed_programs_offline(tmp_path: Path, root: Path) -> None:
    """A typeahead that works on a fresh install: the shipped plugins.toml opens it."""
    client = app_client(
        tmp_path, os_config(root) + '\n[connectors.os.typeahead]\nprograms = "os.programs"\n', ENV
    )
    starting_with_p = client.get("/v1/typeahead/os.programs?prefix=p").get_json()
    at_most_two = client.get("/v1/typeahead/os/programs?limit=2").get_json()

    assert starting_with_p == [{"name": "printenv"}, {"name": "python"}]
    assert at_most_two == [{"name": "echo"}, {"name": "false"}]


ESCAPE = """
import os, sys, time
first = os.fork()
if first == 0:
    os.setsid()  # a session, and a process group, of its own: the program's group no longer holds it
    if os.fork() == 0:
        with open(sys.argv[1], "w") as out:
            out.write(str(os.getpid()))
        time.sleep(60)
    os._exit(0)
os.waitpid(first, 0)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
time.sleep(float(sys.argv[2]))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the shepherd is a Linux subreaper")
def test_a_descendant_that_left_the_group_does_not_outlive_the_call(tmp_path: Path, root: Path) -> None:
    """A daemonizing double fork with setsid: found through the shepherd, killed when the program
    exits and when its deadline kills it, through the real daemon."""
    config = tmp_path / "plugins.toml"
    config.write_text(os_config(root))
    with RunningDaemon(config, ENV, output=(tmp_path / "daemon.log").open("wb")) as daemon:
        finished = requests.post(
            f"{daemon.url}/v1/do/os/RunCommand",
            json={"program": "python", "args": ["-c", ESCAPE, f"{root}/a", "0.1"]},
            timeout=30,
        ).json()
        timed_out = requests.post(
            f"{daemon.url}/v1/do/os/RunCommand",
            json={"program": "python", "args": ["-c", ESCAPE, f"{root}/b", "60"], "timeout": 1},
            timeout=30,
        ).json()
        escaped = [int((root / name).read_text()) for name in ("a", "b")]  # written before each waited
        wait_ended(*escaped)

    assert finished["error"] is None and finished["command_response"]["body"]["exit_code"] == 0
    assert timed_out["error"]["error_code"] == "Timeout"
    assert [running(pid) for pid in escaped] == [False, False]
