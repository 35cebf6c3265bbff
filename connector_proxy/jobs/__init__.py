"""Calls run in the background: accepted with 202, run by a backend, delivered by callback, polled.

service.py   Jobs: accept a call as a job (the web layer's one entry point)
model.py     Job: the record every backend keeps
queue.py     JobQueue: the contract both backends pass (tests/jobs/test_contract.py)
sqlite.py    the embedded backend: SQLite (WAL) and threads in each worker
celery.py    Celery on Redis, for several machines
delivery.py  PUT the envelope to spiff__callback_url, with retries
"""
