"""The benchmark suite: ``python -m bench`` (see docs/performance.md).

Everything runs on 127.0.0.1: an upstream (nginx when installed), the daemon
under gunicorn as ``connector-proxy serve`` starts it, and a load generator
(wrk when installed). Nothing here is imported by the daemon.
"""
