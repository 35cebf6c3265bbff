"""A hostile-peer kit: the servers the daemon talks to, made to misbehave on purpose.

Each is a real HTTP server on 127.0.0.1 (threaded, so one slow answer does not hold the others)
with knobs: ``huge`` (a body this large), ``slow`` (seconds before the answer), ``drip`` (seconds
between bytes), ``loop`` (a redirect to itself), ``html`` (a crashed server's page), ``garbage``
(bytes that are not what the media type says), and, for a remote proxy, catalogs that are big,
change on every read, declare catastrophic patterns, a ``$ref`` out of their schema or ids that
walk a path. Every request it receives is kept as it arrived (``seen``: the raw path, dot segments
and escapes included), so a test can tell what the daemon sent. Use it for every surface that talks to a peer.
"""

from tests.hostile.collector import HostileCollector
from tests.hostile.peer import HostilePeer, Knobs
from tests.hostile.remote import CATASTROPHIC, HostileRemote

__all__ = ["CATASTROPHIC", "HostileCollector", "HostilePeer", "HostileRemote", "Knobs"]
