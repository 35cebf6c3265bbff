"""The parts of jobs that need no server: settings, the record, the backoff."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector_proxy.config import ConfigError, Settings, load_settings
from connector_proxy.jobs.delivery import FIRST_DELAY, MAX_DELAY
from connector_proxy.jobs.model import FAILED, PENDING, SUCCEEDED, Job
from connector_proxy.sdk import backoff
from connector_proxy.secrets.record_encryption import SealedRecordError, Sealer


def settings_with(tmp_path: Path, jobs: str, environ: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "plugins.toml"
    path.write_text(f"[jobs]\n{jobs}\n")
    return load_settings(path, environ or {})


def test_callback_headers_resolve_references_and_stay_out_of_repr(tmp_path: Path) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(
        '[jobs]\ncallback_headers = ["Authorization: env:TOKEN", "X-Team: bpmn"]\n'
        'callback_allow = ["https://spiff.example.com"]\n'
    )

    settings = load_settings(path, {"TOKEN": "Bearer s3cret"})

    assert settings.jobs.callback_header_pairs == (("Authorization", "Bearer s3cret"), ("X-Team", "bpmn"))
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("jobs", "named"),
    [
        ('backend = "rabbit"', "jobs.backend"),
        ("threads = 0", "jobs.threads"),
        ("delivery_timeout = 0", "jobs.delivery_timeout"),
        ('callback_headers = ["no colon here"]', "jobs.callback_headers"),
        ('callback_headers = ["Authorization: env:MISSING"]\ncallback_allow = ["x.org"]', "MISSING"),
        ('callback_headers = ["X-Team: bpmn"]', "jobs.callback_allow must name the host"),
        ('callback_allow = ["ftp://x.org"]', r"jobs\.callback_allow: 'ftp://x.org'"),
    ],
)
def test_bad_job_settings_name_the_key(tmp_path: Path, jobs: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        settings_with(tmp_path, jobs)


def test_backoff_doubles_with_jitter_up_to_five_minutes() -> None:
    for attempt in range(1, 6):
        assert 2 ** (attempt - 1) / 2 <= backoff(attempt, FIRST_DELAY, MAX_DELAY) <= 2 ** (attempt - 1)
    assert MAX_DELAY / 2 <= backoff(40, FIRST_DELAY, MAX_DELAY) <= MAX_DELAY


def test_a_finished_job_with_a_callback_is_due_for_delivery() -> None:
    job = Job(command="sample/Sleep", payload={"seconds": 1}, task_id="t", callback_url="http://host/cb")
    job.start()
    job.finish(200, {"command_response": {"body": {}}, "error": None})

    assert job.state == SUCCEEDED and job.delivery.state == PENDING and job.attempts == 1
    clear, sealed = Sealer(()), Sealer((Fernet.generate_key().decode(),))
    assert Job.from_json(job.to_json(clear), clear) == job
    record = job.to_json(sealed)
    assert "seconds" not in record and "command_response" not in record  # the payload and envelope are sealed
    assert Job.from_json(record, sealed) == job
    assert Job.from_json(job.to_json(clear), sealed) == job  # records from before encryption still read
    with pytest.raises(SealedRecordError):
        Job.from_json(record, clear)
    with pytest.raises(SealedRecordError):
        Job.from_json(record, Sealer((Fernet.generate_key().decode(),)))


def test_a_failed_job_is_failed_and_a_handed_off_one_owes_no_callback() -> None:
    job = Job(command="sample/HandOff", payload={}, task_id=None, callback_url="http://host/cb")
    job.finish(202, {"command_response": {"body": {}}, "error": None}, hand_off=True)
    failed = Job(command="sample/Greet", payload={}, task_id=None, callback_url=None)
    failed.finish(200, {"command_response": {"body": {}}, "error": {"error_code": "NotWelcome"}})

    assert job.delivery.state == "none"
    assert failed.state == FAILED


def test_what_a_job_shows_never_includes_its_payload() -> None:
    job = Job(
        command="http/GetRequest",
        payload={"headers": {"Authorization": "s3cret"}},
        task_id=None,
        callback_url=None,
    )

    assert "s3cret" not in str(job.describe())
