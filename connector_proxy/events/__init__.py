"""Inbound events: triggers' events stored, then delivered to the host as BPMN messages.

service.py      Events: the one entry point (receive a webhook, look up, count) and create_events
subscriptions.py Subscription: a configured trigger bound to its settings and payload mapping
model.py        StoredEvent: the record every store keeps, and its message_instance_uuid
store.py        EventStore: the contract both stores pass (tests/events/test_contract.py)
sqlite.py       events in the jobs' SQLite file
redis_store.py  events in the jobs' Redis
delivery.py     POST the message to the host, with retries and a dead letter
registration.py Registration: a subscription's hook at its source, its secret and settings sealed
registrar.py    sets webhooks up at their sources and tears them down, under one lease in the store
background.py   each worker process's threads: deliver due events, run the pollers it holds a lease on
"""
