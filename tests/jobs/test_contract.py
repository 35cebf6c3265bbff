"""One suite, both job backends: the real daemon over HTTP, a real callback receiver, a real worker.

For ``celery`` the tests start ``connector-proxy worker`` against the Redis at
``$CONNECTOR_PROXY_TEST_REDIS_URL`` (default: database 13 on 127.0.0.1). Each
backend gets a queue and a key prefix of its own and deletes only those keys
afterwards; nothing else in that database is touched. Without a Redis the
celery half is skipped, except in CI (``$CI`` set), where it must run.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from cryptography.fernet import Fernet

from connector_proxy.sdk.testing import free_port
from connector_proxy.testing import start_owned, stop_owned
from tests.support import CLI, SITE, TEST_ENV, CallbackReceiver, Daemon, wait_until

REDIS_URL = os.environ.get("CONNECTOR_PROXY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
ASYNC = {"Prefer": "respond-async"}
ASYNC_JSON = {**ASYNC, "Content-Type": "application/json"}


class Backend:
    """The configuration of one backend, and the processes it needs besides the daemon."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        self.config = folder / "plugins.toml"
        queue = self.prefix = f"cp-test-{uuid.uuid4().hex[:8]}"
        self.config.write_text(
            "[server]\nworkers = 1\nthreads = 4\ngraceful_timeout = 10\n"
            '[connectors.sample.config]\ntoken = "env:SAMPLE_TOKEN"\n'
            "[connectors.http.config.destinations]\nallow_loopback = true\n"
            f'[jobs]\nbackend = "{name}"\nsqlite_path = "jobs.sqlite3"\nthreads = 1\nmax_starts = 2\n'
            f'redis_url = "{REDIS_URL}"\ncelery_queue = "{queue}"\nredis_prefix = "{queue}"\n'
            'callback_headers = ["Authorization: env:HOST_SERVICE_TOKEN"]\n'
            'callback_allow = ["127.0.0.1"]\n'  # the receivers' address; the token goes nowhere else
            'encryption_keys = ["env:JOBS_KEY"]\n'  # payloads and envelopes sealed at rest
        )
        self.environ = {
            **TEST_ENV,
            "HOST_SERVICE_TOKEN": "Bearer service-account-s3cret",
            "JOBS_KEY": Fernet.generate_key().decode(),
        }
        self.worker: subprocess.Popen[bytes] | None = None
        self.daemons: list[Daemon] = []

    def start_worker(self) -> None:
        if self.name != "celery":
            return
        log = (self.folder / "worker.log").open("ab")
        env = {**os.environ, **self.environ, "PYTHONPATH": str(SITE)}
        self.worker = start_owned(
            [*CLI, "worker", "--config", str(self.config), "--concurrency", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop_worker(self) -> None:
        if self.worker is not None:
            stop_owned(self.worker)

    def stored(self, job_id: str) -> str:
        """The job's record as the backend keeps it."""
        if self.name == "celery":
            return str(redis.Redis.from_url(REDIS_URL).get(f"{self.prefix}:job:{job_id}"))
        with sqlite3.connect(self.folder / "jobs.sqlite3") as db:
            return str(db.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])

    def daemon(self, name: str = "daemon") -> Daemon:
        started = Daemon(self.config, self.environ, self.folder / f"{name}.log")
        self.daemons.append(started)  # stopped with the backend, however the test ends
        return started.ready()


@pytest.fixture(params=["sqlite", "celery"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "celery":
        _need_redis()
    chosen = Backend(request.param, tmp_path)
    chosen.start_worker()
    try:
        yield chosen
    finally:
        for started in chosen.daemons:
            started.stop()
        chosen.stop_worker()
        if request.param == "celery":
            _forget(chosen.prefix)


def _need_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            raise AssertionError(
                f"CI runs the celery backend, but no Redis answers at {REDIS_URL}"
            ) from error
        pytest.skip(f"no Redis answers at {REDIS_URL} (set CONNECTOR_PROXY_TEST_REDIS_URL): {error}")


def _forget(prefix: str) -> None:
    """Delete what this backend wrote: its job records, its queue, Celery's bindings for the queue
    (every key naming the prefix, which is unique to this backend)."""
    db = redis.Redis.from_url(REDIS_URL)
    ours = list(db.scan_iter(match=f"*{prefix}*", count=1000))
    if ours:
        db.delete(*ours)


@pytest.fixture
def daemon(backend: Backend) -> Daemon:
    return backend.daemon()  # stopped by the backend's fixture


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    running = CallbackReceiver()
    yield running
    running.close()


def call(
    daemon: Daemon, command: str, payload: dict[str, Any], asynchronously: bool = True
) -> requests.Response:
    return requests.post(
        f"{daemon.url}/v1/do/{command}", json=payload, headers=ASYNC if asynchronously else {}, timeout=30
    )


def host_call(receiver: CallbackReceiver | None, path: str, **parameters: Any) -> dict[str, Any]:
    """Parameters plus the keys the host adds to every call."""
    return {
        **parameters,
        "spiff__task_id": str(uuid.uuid4()),
        "spiff__process_instance_id": 7,
        "spiff__task_data": {"x": 1},
        "spiff__callback_url": f"{receiver.url}{path}" if receiver else None,
    }


def poll(daemon: Daemon, job_id: str, until_delivery_attempts: int | None = None) -> dict[str, Any]:
    """The job once it succeeded and its delivery settled, or once that many deliveries were tried."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job: dict[str, Any] = requests.get(f"{daemon.url}/v1/jobs/{job_id}", timeout=5).json()
        if until_delivery_attempts is not None:
            if job["delivery"]["attempts"] >= until_delivery_attempts:
                return job
        elif job["state"] == "succeeded" and job["delivery"]["state"] != "pending":
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not get there: {job}")


def test_a_slow_call_is_answered_202_at_once_and_its_envelope_is_put_to_the_callback(
    daemon: Daemon, receiver: CallbackReceiver
) -> None:
    started = time.monotonic()
    response = call(daemon, "sample/Sleep", host_call(receiver, "/callback/one", seconds=1))
    answered_in = time.monotonic() - started

    assert response.status_code == 202
    assert answered_in < 0.9
    accepted = response.json()
    assert accepted["error"] is None
    job_id = accepted["command_response"]["body"]["job_id"]
    assert response.headers["Location"] == f"/v1/jobs/{job_id}"
    [(path, delivered)] = receiver.wait_for(1)
    assert path == "/callback/one"
    assert delivered["command_response"]["body"] == {"slept": 1}
    assert delivered["error"] is None and delivered["command_response_version"] == 2
    synchronous = call(daemon, "sample/Sleep", host_call(None, "", seconds=1), asynchronously=False).json()
    assert delivered.keys() == synchronous.keys()
    assert receiver.headers["Authorization"] == "Bearer service-account-s3cret"
    assert "s3cret" not in Path(daemon.log).read_text()


def test_delivery_is_retried_through_a_refused_connection_and_a_500(daemon: Daemon) -> None:
    port = free_port()  # nothing listens there yet: the first attempt is refused
    payload = host_call(None, "", seconds=0.1)
    payload["spiff__callback_url"] = f"http://127.0.0.1:{port}/callback/late"

    job_id = call(daemon, "sample/Sleep", payload).json()["command_response"]["body"]["job_id"]
    refused = poll(daemon, job_id, until_delivery_attempts=1)
    assert refused["delivery"]["state"] == "pending"
    assert refused["delivery"]["last_error"] == "NewConnectionError: the host could not be reached"
    receiver = CallbackReceiver(port=port, fail_first=1)  # then the host is up, but answers 500 once
    try:
        [(_, delivered)] = receiver.wait_for(1, seconds=30)
    finally:
        receiver.close()

    assert delivered["command_response"]["body"] == {"slept": 0.1}
    job = poll(daemon, job_id)
    assert job["delivery"]["state"] == "delivered"
    assert job["delivery"]["attempts"] >= 3


def test_a_client_without_a_callback_polls_to_completion(daemon: Daemon) -> None:
    body = call(daemon, "sample/Sleep", host_call(None, "", seconds=0.3)).json()["command_response"]["body"]

    job = poll(daemon, body["job_id"])

    assert job["envelope"]["command_response"]["body"] == {"slept": 0.3}
    assert job["delivery"]["state"] == "none"
    assert job["attempts"] == 1 and job["finished_at"] >= job["started_at"] >= job["created_at"]
    assert "payload" not in job
    listed = requests.get(f"{daemon.url}/v1/jobs", params={"state": "succeeded"}, timeout=5).json()["jobs"]
    assert body["job_id"] in [entry["id"] for entry in listed]
    unknown = requests.get(f"{daemon.url}/v1/jobs/nope", timeout=5)
    assert unknown.status_code == 404 and unknown.json()["error"]["error_code"] == "JobNotFound"
    scrape = requests.get(f"{daemon.url}/metrics", timeout=5).text  # the store's own count, per state
    assert 'connector_proxy_jobs{state="succeeded"} 1.0' in scrape
    assert 'connector_proxy_jobs{state="queued"} 0.0' in scrape


def test_a_failing_command_fails_the_job_with_its_envelope(
    daemon: Daemon, receiver: CallbackReceiver
) -> None:
    job_id = call(daemon, "sample/Greet", host_call(receiver, "/callback/sad", name="Mallory")).json()[
        "command_response"
    ]["body"]["job_id"]

    [(_, delivered)] = receiver.wait_for(1)
    job = poll_delivered(daemon, job_id)

    assert delivered["error"]["error_code"] == "NotWelcome"
    assert "body" in delivered["command_response"]
    # no boundary event catches it: the host took it, failed the task and answered 400 (as measured)
    assert (job["delivery"]["outcome"], job["delivery"]["host_status"]) == ("task_failed", 400)


def test_a_jobs_task_data_reaches_its_command_and_what_reading_it_refuses_fails_the_job(
    daemon: Daemon, receiver: CallbackReceiver
) -> None:
    """Task data is stored and reloaded as it came (carried unread): the command reads it whole; one
    holding a key twice is refused when read, and the host is told by the callback."""
    rows = [{"id": i, "name": f"customer {i}", "tags": ["a", "b"]} for i in range(5000)]
    payload = {**host_call(receiver, "/callback/data"), "spiff__task_data": {"rows": rows}}
    call(daemon, "sample/Context", payload)
    twice = json.dumps({**host_call(receiver, "/callback/twice"), "spiff__task_data": {}})
    twice = twice.replace('"spiff__task_data": {}', '"spiff__task_data": {"a": 1, "a": 2}')
    requests.post(f"{daemon.url}/v1/do/sample/Context", data=twice, headers=ASYNC_JSON, timeout=30)

    delivered = dict(receiver.wait_for(2))
    assert delivered["/callback/data"]["command_response"]["body"]["task_data"] == {"rows": rows}
    refused = delivered["/callback/twice"]["error"]
    assert refused["error_code"] == "InvalidRequestBody"
    assert refused["message"].startswith("spiff__task_data: The body names the key 'a' twice")


def test_an_error_a_boundary_event_catches_completes_the_task(daemon: Daemon) -> None:
    receiver = CallbackReceiver(catches=("NotWelcome",))
    try:
        answered = call(daemon, "sample/Greet", host_call(receiver, "/callback/caught", name="Mallory"))
        job = poll_delivered(daemon, answered.json()["command_response"]["body"]["job_id"])
    finally:
        receiver.close()

    assert (job["delivery"]["outcome"], job["delivery"]["host_status"]) == ("completed", 200)


def test_the_host_calling_again_for_the_same_task_joins_the_running_job(daemon: Daemon) -> None:
    payload = host_call(None, "", seconds=1)

    first = call(daemon, "sample/Sleep", payload).json()["command_response"]["body"]
    second = call(daemon, "sample/Sleep", payload).json()["command_response"]["body"]

    assert second["job_id"] == first["job_id"]
    assert (first["joined"], second["joined"]) == (False, True)


def test_a_task_the_host_dispatches_again_after_its_retry_delay_runs_afresh(
    daemon: Daemon, receiver: CallbackReceiver
) -> None:
    """The host answered the first callback retry_scheduled; later it sends the same task again."""
    receiver.word = "retry_scheduled"
    payload = host_call(receiver, "/callback/retried", name="Ada")
    first = call(daemon, "sample/Greet", payload).json()["command_response"]["body"]
    receiver.wait_for(1)
    receiver.word = "completed"
    second = call(daemon, "sample/Greet", payload).json()["command_response"]["body"]
    deliveries = _delivered_twice(receiver)

    assert second["job_id"] != first["job_id"] and second["joined"] is False
    greetings = [envelope["command_response"]["body"]["greeting"] for _, envelope in deliveries]
    assert greetings == ["Hello Ada"] * 2


def _delivered_twice(receiver: CallbackReceiver, seconds: float = 20) -> list[tuple[str, Any]]:
    deadline = time.monotonic() + seconds
    while len(receiver.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(receiver.received)


def test_a_call_refused_up_front_is_answered_now_with_the_error(daemon: Daemon) -> None:
    response = call(daemon, "sample/Sleep", host_call(None, "", seconds="long"))

    assert response.status_code == 400
    assert response.json()["error"]["error_code"] == "InvalidParameters"
    assert requests.get(f"{daemon.url}/v1/jobs", timeout=5).json()["jobs"] == []


@pytest.mark.parametrize(
    ("callback_url", "named"),
    [
        ("http://127.0.0.2:9/callback", "not in jobs.callback_allow"),
        ("http://[::1]:9/callback", "not in jobs.callback_allow"),  # loopback, but not the allowed address
        ("file:///etc/passwd", "http or https URL"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "http or https URL"),
        ("not a url", "http or https URL"),
        ("http://127.0.0.1:99999/x", "port cannot be read"),
        (12345, "must be a string"),
    ],
)
def test_a_callback_url_the_policy_refuses_is_answered_400_and_no_job_starts(
    daemon: Daemon, callback_url: Any, named: str
) -> None:
    payload = {**host_call(None, "", seconds=0.1), "spiff__callback_url": callback_url}
    response = call(daemon, "sample/Sleep", payload)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["error_code"] == "InvalidCallbackUrl"
    assert error["message"].startswith("spiff__callback_url ") and named in error["message"]
    assert requests.get(f"{daemon.url}/v1/jobs", timeout=5).json()["jobs"] == []


def test_a_command_declared_asynchronous_needs_no_header(daemon: Daemon, receiver: CallbackReceiver) -> None:
    response = call(daemon, "sample/Eventually", host_call(receiver, "/callback/e"), asynchronously=False)

    assert response.status_code == 202
    [(_, delivered)] = receiver.wait_for(1)
    assert delivered["command_response"]["body"]["done"] is True


def test_a_command_that_hands_off_is_answered_202_without_a_job(daemon: Daemon) -> None:
    response = call(daemon, "sample/HandOff", host_call(None, "/x"), asynchronously=False)

    assert response.status_code == 202
    assert response.json()["command_response"]["body"]["handed_to"] == "a remote system"
    assert requests.get(f"{daemon.url}/v1/jobs", timeout=5).json()["jobs"] == []


def test_parameters_and_envelopes_are_sealed_at_rest(backend: Backend, daemon: Daemon) -> None:
    payload = host_call(None, "", name="Ada-the-secret-name")
    job_id = call(daemon, "sample/Greet", payload).json()["command_response"]["body"]["job_id"]

    job = poll(daemon, job_id)
    record = backend.stored(job_id)

    assert "Ada-the-secret-name" in json.dumps(job["envelope"])  # the daemon reads it back
    assert "Ada-the-secret-name" not in record and '"sealed"' in record


def test_a_killed_daemon_loses_no_job(backend: Backend, receiver: CallbackReceiver) -> None:
    daemon = backend.daemon("first")
    ids = [
        call(daemon, "sample/Sleep", host_call(receiver, f"/callback/{n}", seconds=1)).json()[
            "command_response"
        ]["body"]["job_id"]
        for n in range(3)
    ]
    first = f"{daemon.url}/v1/jobs/{ids[0]}"
    # the first running, the others queued (one job at a time)
    wait_until(
        lambda: requests.get(first, timeout=5).json()["state"] == "running", 20, "the first job running"
    )
    daemon.kill()

    restarted = backend.daemon("second")
    try:
        delivered = receiver.wait_for(3, seconds=40)
        states = [poll(restarted, job_id)["state"] for job_id in ids]
    finally:
        restarted.stop()

    assert sorted(path for path, _ in delivered) == ["/callback/0", "/callback/1", "/callback/2"]  # once each
    assert states == ["succeeded"] * 3


def test_a_poison_answer_fails_its_job_and_the_runner_goes_on(
    daemon: Daemon, receiver: CallbackReceiver
) -> None:
    call(daemon, "sample/Nested", host_call(receiver, "/callback/poison", depth=5000))
    call(daemon, "sample/Sleep", host_call(receiver, "/callback/next", seconds=0.1))  # the one runner's next

    delivered = dict(receiver.wait_for(2, seconds=30))

    assert delivered["/callback/poison"]["error"]["error_code"] == "UnrenderableAnswer"
    assert delivered["/callback/next"]["command_response"]["body"] == {"slept": 0.1}


def test_a_job_whose_process_dies_under_it_too_often_is_abandoned(
    backend: Backend, receiver: CallbackReceiver
) -> None:
    if backend.name == "celery":
        pytest.skip("Redis gives a killed worker's task back only after its visibility timeout (an hour)")
    job_id = ""
    for attempt in range(2):  # jobs.max_starts = 2: both starts end with a SIGKILL
        daemon = backend.daemon(f"run-{attempt}")
        if not job_id:
            body = call(daemon, "sample/Sleep", host_call(receiver, "/callback/poison", seconds=30)).json()
            job_id = body["command_response"]["body"]["job_id"]
        _wait_until_running(daemon, job_id, attempt + 1)
        daemon.kill()
    last = backend.daemon("last")
    try:
        [(_, delivered)] = receiver.wait_for(1, seconds=20)
        job = requests.get(f"{last.url}/v1/jobs/{job_id}", timeout=5).json()
    finally:
        last.stop()

    assert delivered["error"]["error_code"] == "JobAbandoned"
    assert (job["state"], job["attempts"]) == ("failed", 3)


def _wait_until_running(daemon: Daemon, job_id: str, attempts: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = requests.get(f"{daemon.url}/v1/jobs/{job_id}", timeout=5).json()
        if (job["state"], job["attempts"]) == ("running", attempts):
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} is not running: {job}")


def test_sigterm_lets_a_running_job_finish_and_deliver(backend: Backend, receiver: CallbackReceiver) -> None:
    daemon = backend.daemon()
    accepted = call(daemon, "sample/Sleep", host_call(receiver, "/callback/last", seconds=1))
    job_url = f"{daemon.url}/v1/jobs/{accepted.json()['command_response']['body']['job_id']}"
    # taken by a runner (on a busy machine its one second may even have ended: the stop waits either way)
    wait_until(lambda: requests.get(job_url, timeout=5).json()["state"] != "queued", 20, "the job taken")

    assert daemon.stop() == 0
    assert [path for path, _ in receiver.wait_for(1, seconds=15)] == ["/callback/last"]


def _only_job(daemon: Daemon, state: str | None = None, seconds: float = 20) -> dict[str, Any]:
    """The one job the daemon keeps, once it is in ``state`` (any state when None)."""
    deadline = time.monotonic() + seconds
    shown: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        shown = requests.get(f"{daemon.url}/v1/jobs", timeout=5).json()["jobs"]
        settled = len(shown) == 1 and shown[0]["delivery"]["state"] != "pending"
        if settled and (state is None or shown[0]["state"] == state):
            job: dict[str, Any] = requests.get(f"{daemon.url}/v1/jobs/{shown[0]['id']}", timeout=5).json()
            return job
        time.sleep(0.05)
    raise AssertionError(f"no single {state} job settled: {shown}")


def test_a_command_that_puts_its_own_result_back_reaches_the_host_with_the_callback_credentials(
    daemon: Daemon, receiver: CallbackReceiver
) -> None:
    """A SpiffWorkflow package's execute_async PUTs to the URL it is handed, with no credentials;
    the daemon hands it a relay URL and passes the result on as a job's, with jobs.callback_headers."""
    receiver.api_key = "service-account-s3cret"  # as the real host: no credential, 401
    response = call(daemon, "sample/CallsBack", host_call(receiver, "/callback/relayed", message="hi"), False)
    [(path, delivered)] = receiver.wait_for(1)
    job = _only_job(daemon, "succeeded")

    assert response.status_code == 202
    assert response.json()["command_response"]["body"] == {"started": True, "relayed": True}
    assert path == "/callback/relayed"
    assert delivered["command_response"]["body"] == {"message": "hi"} and delivered["error"] is None
    assert delivered["spiff__logs"] == ["put back by the command"]
    assert (job["command"], job["delivery"]["outcome"]) == ("sample/CallsBack", "completed")
    assert receiver.attempts == 1  # the command's own PUT never reached the host


def test_a_relayed_failure_fails_the_task_and_a_job_relays_too(
    daemon: Daemon, receiver: CallbackReceiver
) -> None:
    failing = host_call(receiver, "/callback/failed", message="boom", fail=True)
    call(daemon, "sample/CallsBack", failing, asynchronously=False)
    queued = call(daemon, "sample/CallsBack", host_call(receiver, "/callback/as-a-job", message="job"))
    arrived = dict(receiver.wait_for(2))

    assert arrived["/callback/failed"]["error"]["error_code"] == "RemoteFailed"
    assert arrived["/callback/failed"]["command_response"]["http_status"] == 500  # no status below 400
    assert queued.status_code == 202 and "job_id" in queued.json()["command_response"]["body"]
    assert arrived["/callback/as-a-job"]["command_response"]["body"] == {"message": "job"}


def test_the_relay_url_takes_one_good_put_and_refuses_strangers(
    daemon: Daemon, receiver: CallbackReceiver
) -> None:
    payload = host_call(receiver, "/callback/once", message="never", delay=3600, reveal=True)
    url = call(daemon, "sample/CallsBack", payload, False).json()["command_response"]["body"]["url"]
    base, _, key = url.partition("?key=")
    good = {"command_response": {"body": {"by": "hand"}}, "error": None, "command_response_version": 2}

    wrong_key = requests.put(f"{base}?key={'x' * len(key)}", json=good, timeout=5)
    no_key = requests.put(base, json=good, timeout=5)
    not_json = requests.put(url, data=b"{nope", timeout=5)
    waiting = _only_job(daemon)["state"]
    first = requests.put(url, json=good, timeout=5)
    again = requests.put(url, json={**good, "command_response": {"body": {"by": "someone else"}}}, timeout=5)
    [(_, delivered)] = receiver.wait_for(1)

    assert [r.status_code for r in (wrong_key, no_key, not_json)] == [404, 404, 400]
    assert wrong_key.json()["error"]["error_code"] == "RelayNotFound"
    assert not_json.json()["error"]["error_code"] == "InvalidRequestBody" and waiting == "waiting"
    assert (first.status_code, first.json()["state"]) == (200, "succeeded")
    assert again.status_code == 200 and delivered["command_response"]["body"] == {"by": "hand"}
    assert key not in Path(daemon.log).read_text()  # the key is a credential: never logged


def test_a_result_never_put_back_fails_the_task_by_the_jobs_deadline(
    backend: Backend, receiver: CallbackReceiver
) -> None:
    backend.config.write_text(
        backend.config.read_text().replace("max_starts = 2\n", "max_starts = 2\ncommand_timeout = 2\n")
    )
    daemon = backend.daemon()
    try:
        payload = host_call(receiver, "/callback/late", message="too late", delay=3600)
        call(daemon, "sample/CallsBack", payload, asynchronously=False)
        [(_, delivered)] = receiver.wait_for(1)
        job = _only_job(daemon, "failed")
    finally:
        daemon.stop()

    assert delivered["error"]["error_code"] == "RelayTimedOut"
    assert delivered["command_response"]["http_status"] == 504
    assert job["delivery"]["state"] == "delivered"


def test_credentials_the_host_refused_flip_readiness_and_show_in_check_until_it_takes_them(
    backend: Backend, daemon: Daemon, receiver: CallbackReceiver
) -> None:
    receiver.refuse = 401
    refused_id = call(daemon, "sample/Greet", host_call(receiver, "/cb/refused", name="Ada")).json()
    poll(daemon, refused_id["command_response"]["body"]["job_id"], until_delivery_attempts=1)
    not_ready = requests.get(f"{daemon.url}/v1/readiness", timeout=5)
    env = {**os.environ, **backend.environ, "PYTHONPATH": str(SITE)}
    checked = subprocess.run(
        [*CLI, "check", "--config", str(backend.config)], env=env, capture_output=True, text=True, timeout=60
    )
    receiver.refuse = None
    taken_id = call(daemon, "sample/Greet", host_call(receiver, "/cb/taken", name="Bob")).json()
    poll(daemon, taken_id["command_response"]["body"]["job_id"])
    ready = requests.get(f"{daemon.url}/v1/readiness", timeout=5)

    assert not_ready.status_code == 503
    [problem] = [p for p in not_ready.json()["error"]["details"] if p["state"] == "credentials_refused"]
    assert problem["component"] == f"callbacks to {receiver.url}"
    assert "answered 401" in problem["detail"] and "jobs.callback_headers" in problem["detail"]
    assert checked.returncode == 1 and f"callbacks to {receiver.url}: answered 401" in checked.stderr
    still = ready.json()["error"]["details"] if ready.status_code == 503 else []  # the fixtures' broken ones
    assert [p for p in still if p["state"] == "credentials_refused"] == []


def test_an_operator_cancels_a_queued_job_and_sends_a_callback_again(
    daemon: Daemon, receiver: CallbackReceiver
) -> None:
    """One job runner (jobs.threads = 1, or one Celery worker): a slow job holds it, the next waits."""
    busy = call(daemon, "sample/Sleep", host_call(None, "", seconds=3)).json()["command_response"]["body"]
    _wait_until_running(daemon, busy["job_id"], attempts=1)
    waiting = call(daemon, "sample/Sleep", host_call(receiver, "/callback/cancelled", seconds=0.1))
    job_id = waiting.json()["command_response"]["body"]["job_id"]

    cancelled = requests.post(f"{daemon.url}/v1/jobs/{job_id}/cancel", timeout=10)
    [(path, told)] = receiver.wait_for(1, seconds=20)
    again = requests.post(f"{daemon.url}/v1/jobs/{job_id}/cancel", timeout=10)
    running = requests.post(f"{daemon.url}/v1/jobs/{busy['job_id']}/cancel", timeout=10)
    not_yet = requests.post(f"{daemon.url}/v1/jobs/{busy['job_id']}/redeliver", timeout=10)
    poll_delivered(daemon, job_id)
    resent = requests.post(f"{daemon.url}/v1/jobs/{job_id}/redeliver", timeout=10)
    deadline = time.monotonic() + 20
    while len(receiver.received) < 2:  # the same path twice
        assert time.monotonic() < deadline, receiver.received
        time.sleep(0.05)
    twice = list(receiver.received)
    shown = poll_delivered(daemon, job_id)

    assert cancelled.status_code == 200 and cancelled.json()["state"] == "failed"
    assert path == "/callback/cancelled" and told["error"]["error_code"] == "JobCancelled"
    assert told["command_response"]["http_status"] == 409
    assert (again.status_code, again.json()["error"]["error_code"]) == (409, "JobNotCancellable")
    assert (running.status_code, running.json()["error"]["error_code"]) == (409, "JobNotCancellable")
    assert (not_yet.status_code, not_yet.json()["error"]["error_code"]) == (409, "CallbackNotResendable")
    assert resent.status_code == 200
    assert [body["error"]["error_code"] for _, body in twice] == ["JobCancelled", "JobCancelled"]
    assert [a["action"] for a in shown["actions"]] == ["cancel", "redeliver"]
    assert {a["by"] for a in shown["actions"]} == {"api"}
    assert shown["attempts"] == 0  # its command never ran


def test_a_resend_the_host_refuses_as_already_completed_keeps_the_delivery(
    daemon: Daemon, receiver: CallbackReceiver
) -> None:
    """The host's task completed on the first PUT: a resent callback is refused (400, no longer
    waiting), and the job still says delivered, the refusal among its actions."""
    accepted = call(daemon, "sample/Greet", host_call(receiver, "/cb/twice", name="Ada")).json()
    job_id = accepted["command_response"]["body"]["job_id"]
    first = poll_delivered(daemon, job_id)
    receiver.refuse = 400  # as spiff-arena answers a callback for a task that no longer waits
    resent = requests.post(f"{daemon.url}/v1/jobs/{job_id}/redeliver", timeout=10)
    deadline = time.monotonic() + 20
    while (shown := requests.get(f"{daemon.url}/v1/jobs/{job_id}", timeout=5).json())["actions"][-1][
        "action"
    ] != "redeliver_refused":
        assert time.monotonic() < deadline, shown
        time.sleep(0.05)
    operations = requests.get(f"{daemon.url}/v1/operations?jobs=undeliverable", timeout=5).json()

    assert resent.status_code == 200 and receiver.attempts == 2
    assert shown["delivery"]["state"] == "delivered" and shown["delivery"]["outcome"] == "completed"
    assert shown["delivery"]["delivered_at"] == first["delivery"]["delivered_at"]
    assert shown["delivery"]["last_error"] is None
    refusal = shown["actions"][-1]
    assert [a["action"] for a in shown["actions"]] == ["redeliver", "redeliver_refused"]
    assert refusal["by"] == "host" and refusal["host_status"] == 400
    assert refusal["host_answer"]["error_code"] == "not_waiting_for_callback"
    assert job_id not in [job["id"] for job in operations["jobs"]["shown"]]


def poll_delivered(daemon: Daemon, job_id: str) -> dict[str, Any]:
    job: dict[str, Any]
    deadline = time.monotonic() + 20
    while (job := requests.get(f"{daemon.url}/v1/jobs/{job_id}", timeout=5).json())["delivery"][
        "state"
    ] != "delivered":
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job
