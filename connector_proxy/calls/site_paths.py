"""Packages installed since the interpreter started, made importable: what a reload promises.

Python reads the site directories' ``.pth`` files once, when it starts. An
editable install (``pip install -e``) puts its import hook in such a file, so
a daemon that reloads on SIGHUP would not find a connector installed that way
after it started. Discovery reads the files added or changed since then, as
``site`` would have, before it looks for connectors.
"""

from __future__ import annotations

import contextlib
import importlib
import site
from pathlib import Path


def _site_directories() -> list[Path]:
    found = [Path(folder) for folder in site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        found.append(Path(site.getusersitepackages()))
    return [folder for folder in found if folder.is_dir()]


def _path_files() -> dict[Path, float]:
    """Each ``.pth`` file of the site directories, with the time it was last changed."""
    found = {}
    for folder in _site_directories():
        for path in folder.glob("*.pth"):
            with contextlib.suppress(OSError):  # removed while listed: nothing to read
                found[path] = path.stat().st_mtime
    return found


_READ = _path_files()  # what site read at start-up (this module is imported at start-up too)


def read_new_path_files() -> list[Path]:
    """Read the ``.pth`` files that appeared or changed since they were last read; the ones read.

    Each is read once (a changed one again), so an import line in one runs once per change.
    """
    fresh = [(path, changed) for path, changed in _path_files().items() if _READ.get(path) != changed]
    for path, changed in fresh:
        site.addpackage(str(path.parent), path.name, None)
        _READ[path] = changed
    importlib.invalidate_caches()  # the finders' directory listings predate the install
    return [path for path, _ in fresh]
