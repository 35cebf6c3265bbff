"""What the daemon and its hosts say to each other, below everything that handles a call.

jsontext.py     strict JSON: the one reader of bodies (msgspec first, the strict reader on doubt)
                and the one writer of answers
task_data.py    spiff__task_data carried as it came, read (strictly) when first looked at
error_codes.py  the daemon's error codes, declared once (docs/http-api.md lists them)
interfaces.py   the two kinds of connector (SDK, SpiffWorkflow package) as /v1/connectors names them
replies.py      what a host said back to a callback or a message, kept for the operator
"""
