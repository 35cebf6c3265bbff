"""The os connector's live check: its roots are readable and its programs still there."""

from __future__ import annotations

import os

from connector_proxy.sdk import CheckFailed, Context
from connector_proxy_os.settings import OsResources


def roots_and_programs(ctx: Context) -> str:
    """Each root is a directory this process can list, each program a file it can run."""
    resources: OsResources = ctx.resources
    problems = [f"root {root} is not readable" for root in resources.roots if not _listable(str(root))]
    problems += [
        f"program {name} ({program.path}) is not executable"
        for name, program in resources.programs.items()
        if not (os.path.isfile(program.path) and os.access(program.path, os.X_OK))
    ]
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{len(resources.roots)} root(s) readable, {len(resources.programs)} program(s) executable"


def _listable(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.R_OK | os.X_OK)
