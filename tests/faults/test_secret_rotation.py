"""Secret providers refresh under the gevent worker.

``serve`` once resolved the settings' secrets before gevent patched the standard library: an
``aws-sm:`` reference there imported boto3, hence ssl, unpatched (gevent warned), and every later
read of Secrets Manager failed with ``RecursionError``: a rotated secret was never picked up.
Now the worker class is read first and gevent patches before anything imports ssl.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.test_secrets import (
    CACHE_SECONDS,
    FIRST,
    SECOND,
    aws_environment,
    digest,
    manager,
    moto,
    token_in_use,
    wait_for_digest,
)
from tests.support import Daemon

__all__ = ["moto"]  # the module's fixture: one moto server for these tests

API_KEY = "api-key-kept-in-secrets-manager-01"


def test_nothing_the_command_line_imports_before_patching_imports_ssl() -> None:
    """What ``main`` imports and runs before ``concurrency.prepare`` (the command line, the
    configuration, secrets, logs) leaves ssl unimported: gevent must patch it first."""
    probe = (
        "import sys, pathlib\n"
        "from connector_proxy import config, secrets\n"
        "from connector_proxy.cli import main as cli\n"
        "from connector_proxy.telemetry import logs\n"
        "config.read_worker_class(None, {})\n"
        "assert 'ssl' not in sys.modules, 'ssl imported before the patch'\n"
        "cli.concurrency.prepare('gevent')\n"
        "from gevent import monkey\n"
        "assert monkey.is_module_patched('ssl')\n"
    )
    done = subprocess.run([sys.executable, "-W", "error", "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_secret_rotated_in_secrets_manager_is_picked_up_under_gevent(tmp_path: Path, moto: str) -> None:
    name, key = f"sample/token-{tmp_path.name}", f"daemon/key-{tmp_path.name}"
    manager(moto).create_secret(Name=name, SecretString=f'{{"token": "{FIRST}"}}')
    manager(moto).create_secret(Name=key, SecretString=API_KEY)
    config = tmp_path / "plugins.toml"
    config.write_text(
        '[server]\nworkers = 1\nworker_class = "gevent"\n'
        f'[auth]\napi_keys = ["aws-sm:{key}"]\n'  # resolved at start-up: boto3 is imported then
        f"[secrets]\ncache_seconds = {CACHE_SECONDS}\n"
        f'[connectors.sample.config]\ntoken = "aws-sm:{name}#token"\n'
    )
    with Daemon(config, aws_environment(moto), tmp_path / "daemon.log") as daemon:
        before = token_in_use(daemon, API_KEY)
        manager(moto).put_secret_value(SecretId=name, SecretString=f'{{"token": "{SECOND}"}}')
        rotated = wait_for_digest(daemon, digest(SECOND), api_key=API_KEY, seconds=CACHE_SECONDS + 30)

    assert before["digest"] == digest(FIRST) and rotated["digest"] == digest(SECOND)
    log = (tmp_path / "daemon.log").read_text()
    assert "MonkeyPatchWarning" not in log and "RecursionError" not in log
