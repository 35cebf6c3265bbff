"""The HTTP API: auth, then liveness, catalog and do routes, all answering JSON; and gunicorn serving it.

server.py          gunicorn: gevent (or threaded) workers, app built once before the fork, again on SIGHUP
app.py             create_app(): the application factory
state.py           what the app holds for its routes: settings, registry, executor, jobs, events
auth.py            API keys (before every request)
request_ids.py     X-Request-Id: taken or made, bound for the request, answered
traced.py          a server span per request, continuing the caller's traceparent
cors.py            cross-origin calls from cors.origins only, their preflights before the key check
bounded.py         request bodies held to limits.max_body_bytes and body_timeout, chunked ones included
documented.py      @documented: what each route answers, for the OpenAPI document
openapi.py         the OpenAPI 3.1 document, from the routes' declarations and the registry
health.py          /liveness, /v1/readiness
catalog.py         /v1/commands, /v1/connectors, /v1/openapi.json
checks.py          POST /v1/connectors/<name>/check
do.py              POST /v1/do/<connector>/<command>: the request's parts to calls.dispatch
proxied.py         typeahead and sign-ins of another proxy's commands, its answers as they came
jobs.py            GET /v1/jobs, /v1/jobs/<job_id>
relay.py           PUT /v1/relay/<job_id>
listing.py         ?state= and ?limit= of the listing routes
inbound.py         POST /v1/inbound/..., GET /v1/events[/<event_id>]
token_bucket.py    Budget: unverified webhook bytes a worker reads per second
operations.py      GET /v1/operations
page.py            / and /operations: the catalog and operations pages
validate.py        POST /v1/validate
oauth.py           /v1/auths, /v1/auth/<connector>/<auth>[/callback]
typeahead.py       /v1/typeahead/<connector>/<name>
ttl_cache.py       answers kept a short time in memory (typeahead)
metrics.py         /metrics
error_handlers.py  every HTTP failure -> envelope
responses.py       JSON responses: every answer, errors included
"""

from connector_proxy.web.app import create_app

__all__ = ["create_app"]
