"""Connectors run in their own processes, any interpreter or language, over JSON lines.

protocol.py  the wire format, versioned (docs/isolation-protocol.md)
worker.py    our worker for Python connectors: python -m connector_proxy.isolation.worker NAME
process.py   one worker process: start, handshake, one call at a time, kill
pool.py      a connector's workers in one daemon process: checkout, restart with backoff, health
remote.py    what the handshake describes, as a Connector whose commands call the pool
"""
