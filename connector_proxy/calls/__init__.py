"""A host's call, from the edge to the one place that decides how it runs.

call.py      Call: the command id, its parameters and the host's fields, read once by one rule
timed.py     Timed: one call timed, counted and logged the same way on every path
dispatch.py  dispatch(): through another proxy, as a job, through the relay, or now
"""
