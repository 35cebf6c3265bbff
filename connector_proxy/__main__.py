"""``python -m connector_proxy`` is the ``connector-proxy`` command."""

import sys

from connector_proxy.cli.main import main

sys.exit(main())
