"""Where records are kept across the daemon's processes: SQLite, Redis, and what both share.

sqlite_file.py      one SQLite file shared by worker processes: connections, write transactions, the probe
redis_indexes.py    records in Redis indexed by state: listing and counting, expired ids tidied; the client
leases.py           leases (a poller's, a running job's): owners, Redis scripts, the renewing heartbeat
one_time_values.py  values spent once (an OAuth sign-in's state), beside the jobs' store
"""
