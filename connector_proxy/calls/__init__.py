"""A host's call, from the registry it is looked up in to the one place that decides how it runs.

discovery.py    entry points + SpiffWorkflow packages -> Registry + isolated pools (once, at start-up)
site_paths.py   .pth files added since start-up read before discovery (pip install -e, then SIGHUP)
refreshing.py   a connector's configuration and resources, set up again when a secret it uses changed
registry.py     the immutable registry and connector statuses
catalog.py      how commands are described to hosts
validation.py   jsonschema with RE2 patterns, messages naming each bad field
call.py         Call: the command id, its parameters and the host's fields, read once by one rule
timed.py        Timed: one call timed, counted and logged the same way on every path
executor.py     look up -> validate -> run (sdk.invoke, or an isolated worker) -> envelope, counted
envelope.py     the one v2 envelope builder
live_checks.py  connectors' live checks, run and read the same in-process and isolated
dispatch.py     dispatch(): through another proxy, as a job, through the relay, or now (above jobs, proxies)
"""
