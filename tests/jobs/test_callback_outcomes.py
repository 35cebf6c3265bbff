"""What the host made of a callback, recorded as it said it (CallbackReceiver answers as measured on
spiff-arena's backend): completed, its own retry scheduled, refused for good, credentials refused."""

from __future__ import annotations

import json
import time

import pytest

from connector_proxy.config import JobSettings
from connector_proxy.jobs.delivery import CallbackSender
from connector_proxy.jobs.model import DELIVERED, PENDING, UNDELIVERABLE, Job
from connector_proxy.sdk.testing import CallbackReceiver
from connector_proxy.secrets.record_encryption import Sealer


def finished_job(url: str) -> Job:
    job = Job("sample/Greet", {}, "task-1", f"{url}/tasks/1/callback")
    job.finish(
        200,
        {"command_response": {"body": {}, "mimetype": "application/json", "http_status": 200}, "error": None},
    )
    return job


@pytest.mark.parametrize(
    ("receiver", "state", "outcome"),
    [
        (CallbackReceiver(), DELIVERED, "completed"),
        (CallbackReceiver(word="retry_scheduled"), DELIVERED, "retry_scheduled"),
        (CallbackReceiver(refuse=400), UNDELIVERABLE, "refused"),
        (CallbackReceiver(refuse=401), PENDING, "credentials_refused"),  # retried: the operator mends them
        (CallbackReceiver(refuse=403), PENDING, "credentials_refused"),
    ],
    ids=["completed", "retry scheduled", "refused", "401", "403"],
)
def test_the_hosts_answer_is_recorded_as_it_gave_it(
    receiver: CallbackReceiver, state: str, outcome: str
) -> None:
    try:
        job = finished_job(receiver.url)
        CallbackSender(JobSettings()).deliver(job)
    finally:
        receiver.close()
    shown = job.describe()["delivery"]

    assert (job.delivery.state, job.delivery.outcome) == (state, outcome)
    assert shown["outcome"] == outcome and shown["host_status"] == job.delivery.host_status
    assert shown["host_answer"] == job.delivery.host_answer is not None


def test_a_500_is_retried_with_no_outcome_yet() -> None:
    receiver = CallbackReceiver(fail_first=1)
    try:
        job = finished_job(receiver.url)
        CallbackSender(JobSettings()).deliver(job)
    finally:
        receiver.close()

    assert job.delivery.state == PENDING and job.delivery.outcome is None and job.delivery.host_status == 500
    assert job.delivery.next_at is not None and job.delivery.next_at > time.time()


def test_a_record_written_before_outcomes_were_kept_still_reads() -> None:
    record = json.loads(finished_job("http://127.0.0.1:9").to_json(Sealer(())))
    for key in ("outcome", "host_status", "host_answer"):
        del record["delivery"][key]

    read = Job.from_json(json.dumps(record), Sealer(()))

    assert read.delivery.state == PENDING and read.delivery.outcome is None
