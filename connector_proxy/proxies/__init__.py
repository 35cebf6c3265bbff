"""Other connector proxies whose commands join this daemon's catalog (``[proxies.<name>]``).

Their catalogs are read at start-up and again in the background, so nothing a host
asks of the catalog waits on them; a call to one of their commands is validated here
with the parameters they declare, then forwarded (or the host redirected there).
"""
