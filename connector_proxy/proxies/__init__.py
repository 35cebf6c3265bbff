"""Other connector proxies whose commands join this daemon's catalog (``[proxies.<name>]``).

Their catalogs are read at start-up and again in the background, so nothing a host
asks of the catalog waits on them; a call to one of their commands is validated here
with the parameters they declare, then forwarded (or the host redirected there).

catalogs.py  a remote's GET /v1/commands (ours or the reference shape) read into commands we validate
client.py    HTTP to a remote: the SDK's guarded pool allowing its origin only, no redirects, a deadline
calls.py     a call (or a typeahead) passed on as it came, answered as the remote answered
service.py   Proxies: every remote's catalog merged with ours, refreshed in the background, statuses
"""
