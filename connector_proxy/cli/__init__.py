"""The ``connector-proxy`` command (``python -m connector_proxy``).

main.py      connector-proxy serve | worker | list | check | validate | new | call, and installed actions
help.py      what the command line tells a person: did you mean, a port in use, a table fitted to the terminal
scaffold.py  connector-proxy new: a connector package to start from
"""
