"""SpiffWorkflow's own connector packages, installed unchanged.

Those packages predate our SDK: a top-level module ``connector_<name>`` with a
``commands`` subpackage (and optionally ``auths``) whose classes are commands.
This package finds them (``packages.py``), turns each class into an ordinary
SDK :class:`~connector_proxy.sdk.Command` (``commands.py``), and turns what
they answer into our envelope (``answers.py``), so the registry, validation,
jobs and isolation serve them exactly as they serve SDK connectors.

packages.py     find them (the old proxy's rule), load one as a Connector
commands.py     a command class -> Command: constructor -> schema, execute/execute_async
answers.py      v1 / v2 answers -> Result or CommandError
auths.py        an auth class's app_description -> OAuth2
error_codes.py  the codes their answers are given
"""
