"""What a new user runs, as CI runs it: the README's commands, verbatim, in a fresh copy of the tree.

"Run it" installs the daemon into a new virtual environment with no test extras and serves; its first
calls are run as written; then one call is forwarded to an upstream started here on 127.0.0.1. "Scale
out" adds the celery extra and runs a worker against the local Redis, and a job is run through it.
Standard library only: it must not lean on what the test environment installed.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INSTALL_DEADLINE = 600.0  # a fresh install from the registry, on a busy machine
REDIS_URL = os.environ.get("CONNECTOR_PROXY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def blocks(heading: str) -> list[list[str]]:
    """The ``sh`` code blocks under a README heading, each as its lines."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [block.splitlines() for block in re.findall(r"```sh\n(.*?)\n```", section, re.S)]


def fresh_tree() -> Path:
    """The files git knows, copied: the tree a fresh clone has, without this one's .venv."""
    where = Path(tempfile.mkdtemp(prefix="connector-proxy-smoke-"))
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, where / name)
    return where


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "served_by": "smoke upstream"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


def start(command: str, tree: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    print(f"$ {command}", flush=True)
    with log.open("ab") as output:
        return subprocess.Popen(
            ["bash", "-c", command],
            cwd=tree,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stopped whole, pip and gunicorn's workers included
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def request(url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    sent = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(sent, timeout=30) as answer:
        return json.loads(answer.read())


def wait_live(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + INSTALL_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            fail(f"the command exited with status {process.returncode}", log)
        try:
            if request(f"{base}/liveness") is not None:
                return
        except OSError:
            time.sleep(1)
    fail(f"nothing answered {base}/liveness within {INSTALL_DEADLINE:g} s", log)


def fail(why: str, log: Path) -> None:
    sys.stdout.write(log.read_text(errors="replace")[-6000:])
    raise SystemExit(f"README smoke test failed: {why}")


def check(condition: bool, what: str, log: Path) -> None:
    if not condition:
        fail(what, log)
    print(f"  ok: {what}", flush=True)


def readme_calls(lines: list[str], port: int, log: Path) -> None:
    """The README's first calls, as written (but for the port), each answering JSON without an error."""
    for line in lines:
        answer = subprocess.run(
            ["bash", "-c", line.replace("localhost:7004", f"127.0.0.1:{port}")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        parsed = json.loads(answer.stdout or "null")
        check(parsed is not None and not (isinstance(parsed, dict) and parsed.get("error")), line, log)


def run_it(tree: Path, env: dict[str, str], log: Path) -> None:
    install_and_serve, first_calls = blocks("Run it")[:2]
    config = tree / "plugins.toml"  # the copy's: its http connector may reach this script's upstream
    config.write_text(config.read_text().replace("allow_loopback = false", "allow_loopback = true", 1))
    port = free_port()
    served = start(
        install_and_serve[0], tree, {**env, "CONNECTOR_PROXY_SERVER_BIND": f"127.0.0.1:{port}"}, log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_live(base, served, log)
        check(bool(request(f"{base}/v1/commands")), "GET /v1/commands lists commands", log)
        readme_calls(first_calls, port, log)
        forwarded(base, log)
    finally:
        stop(served)


def forwarded(base: str, log: Path) -> None:
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{upstream.server_address[1]}/hello"
        answer = request(f"{base}/v1/do/http/GetRequestV2", {"url": url})
        body = answer["command_response"]["body"]
        check(
            answer["error"] is None and body["path"] == "/hello", "a call forwarded to a local upstream", log
        )
    finally:
        upstream.shutdown()


def scale_out(tree: Path, env: dict[str, str], log: Path) -> None:
    """The celery extra installed as written, a worker and the daemon on the local Redis, one job run."""
    install, *daemons = blocks("Scale out")[0]
    if subprocess.run(["bash", "-c", install], cwd=tree, env=env, check=False).returncode:
        fail(f"{install} failed", log)
    prefix = f"cp-smoke-{secrets.token_hex(4)}"
    port = free_port()
    own = {
        **env,
        "CONNECTOR_PROXY_SERVER_BIND": f"127.0.0.1:{port}",
        "CONNECTOR_PROXY_JOBS_REDIS_URL": REDIS_URL,
        "CONNECTOR_PROXY_JOBS_REDIS_PREFIX": prefix,
        "CONNECTOR_PROXY_JOBS_CELERY_QUEUE": prefix,
    }
    started = [start(line.removesuffix("&").strip(), tree, own, log) for line in daemons]
    base = f"http://127.0.0.1:{port}"
    try:
        wait_live(base, started[-1], log)
        job(base, log)
    finally:
        for process in started:
            stop(process)
        forget(tree, prefix)


def job(base: str, log: Path) -> None:
    accepted = request(
        f"{base}/v1/do/os/RunCommand",
        {"program": "echo", "args": ["from a worker"]},
        {"Prefer": "respond-async"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        record = request(f"{base}{accepted['command_response']['body']['status_url']}")
        if record["state"] in ("succeeded", "failed"):
            stdout = (record.get("envelope") or {}).get("command_response", {}).get("body", {}).get("stdout")
            check(stdout == "from a worker\n", "a job run by connector-proxy worker through Redis", log)
            return
        time.sleep(0.5)
    fail("the job was not run by the worker within 120 s", log)


def forget(tree: Path, prefix: str) -> None:
    """Delete only the keys this run made (its prefix, its queue and Celery's bindings to it)."""
    script = (
        "import redis, sys; r = redis.Redis.from_url(sys.argv[1]); "
        "[r.delete(k) for k in r.scan_iter(match=f'*{sys.argv[2]}*')]"
    )
    subprocess.run([str(tree / ".venv/bin/python"), "-c", script, REDIS_URL, prefix], check=False)


def main() -> None:
    if not shutil.which("curl"):
        raise SystemExit("README smoke test: curl is needed to run the README's calls")
    tree = fresh_tree()
    log = tree / "smoke.log"
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CONNECTOR_PROXY_", "VIRTUAL_ENV"))
    }
    try:
        run_it(tree, env, log)
        scale_out(tree, env, log)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    print("README smoke test: the README's commands work from a fresh tree", flush=True)


if __name__ == "__main__":
    main()
