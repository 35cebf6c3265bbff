"""Sending one HTTP request for a command: limits, retries, decoding and error codes, written once.

The http connector's commands and the connectors built from OpenAPI documents both send through
:func:`connector_proxy.sdk.http.sending.send`, so the destination policy, timeouts, size limits,
redirect rules and error codes are the same for both. Imports requests' and urllib3's world: only
a connector that sends HTTP imports it.
"""
