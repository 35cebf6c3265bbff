"""What the daemon tells its operator about itself: log lines and counters.

logs.py       one log format (JSON or text) for the daemon, gunicorn and workers, with call ids
redaction.py  log lines without secrets: URLs to origins, queries to ?…, resolved secrets masked
metrics.py    what is counted (prometheus-client, multiprocess) and the /metrics text
"""
