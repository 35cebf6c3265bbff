"""Calls run in the background: accepted with 202, run by a backend, delivered by callback, polled.

service.py         Jobs: the one entry point (accept, get, list, recover)
model.py           Job: the record every backend keeps
store.py           JobStore: the contract both stores pass (tests/jobs/test_contract.py)
runner.py          JobRunner: run, save, deliver, save, for both backends
sqlite.py          the embedded backend: a SQLite (WAL) store and threads in each worker
celery_backend.py  Celery on Redis, for several machines
delivery.py        PUT the envelope to spiff__callback_url, with retries
relay.py           a command that PUTs its own result back: its relay URL, and the PUT that settles its job
"""
