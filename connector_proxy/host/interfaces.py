"""The two ways a connector can be written, as ``/v1/connectors`` names them.

A module of its own with no imports: the daemon's registry and an isolated
worker, which loads no more of the daemon than it must, both name them.
"""

SDK = "connector_proxy.sdk"  # a package exposing a Connector through our entry-point group
SPIFFWORKFLOW = "spiffworkflow"  # a SpiffWorkflow connector package (connector_<name>.commands)
