"""``python -m connector_proxy`` is the ``connector-proxy`` command."""

import sys

from connector_proxy.cli import main

sys.exit(main())
