"""What every worker carries: the modules the master holds when it forks, on the default configuration.

The app is built in the master before the fork, so whatever ``serve`` imports while building it sits
in every worker's memory. Libraries only some calls need (boto3 for AWS calls, requests for a
connector's ``pooled_session``, cryptography for SNS signatures and encrypted stores) are imported
by their first use instead: a worker that never makes such a call never pays for them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
ON_FIRST_USE = ("boto3", "botocore.session", "requests", "charset_normalizer", "cryptography", "s3transfer")

# serve's own order (connector_proxy.cli.main._serve): patch first, then build the app as the master does
PROBE = """
import os, sys
from connector_proxy.config import config_path, load_settings, read_worker_class
from connector_proxy.process import concurrency

path = config_path(None, os.environ)
concurrency.prepare(read_worker_class(path, os.environ))
from connector_proxy.jobs.delivery import warn_without_credentials
from connector_proxy.web.app import create_app
from connector_proxy.web.server import serve
from connector_proxy.web.state import proxy_state_of
import gunicorn.workers.ggevent

app = create_app(load_settings(path, os.environ))
print("\\n".join(sorted(sys.modules)))
"""


def test_a_worker_on_the_default_configuration_imports_no_library_only_some_calls_need(
    tmp_path: Path,
) -> None:
    shutil.copy(ROOT / "plugins.toml", tmp_path / "plugins.toml")  # its files are made beside it
    environ = {
        "PATH": "/usr/bin:/bin",
        "CONNECTOR_PROXY_CONFIG": str(tmp_path / "plugins.toml"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    loaded = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=environ, cwd=tmp_path, check=False
    )
    assert loaded.returncode == 0, loaded.stderr
    modules = set(loaded.stdout.split())
    assert "connector_proxy_http" in modules and "connector_proxy_aws" in modules  # discovery ran
    found = sorted(name for name in modules if name.split(".")[0] in ON_FIRST_USE or name in ON_FIRST_USE)
    assert found == []
