"""The ``file_appeared`` poller: files that appear in a directory inside the roots.

A file is new when its inode changed after the cursor (``st_ctime_ns``, which a rename into
the directory sets, unlike the modification time ``mv`` keeps). Write elsewhere and rename
in, so a file is whole when it is seen. The cursor is the SDK's ``after_cursor``: the last
change time taken and the names taken at it, so files sharing a timestamp are neither missed
nor repeated.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from datetime import UTC, datetime
from typing import Any

from connector_proxy.sdk import CommandGroup, Context, Event, after_cursor
from connector_proxy_os.files import inside_roots, os_errors

triggers = CommandGroup()

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["directory"],
    "properties": {
        "directory": {"type": "string", "description": "inside one of the connector's roots"},
        "pattern": {"type": "string", "default": "*", "description": "a glob the file's name must match"},
        "max_events": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
}


@triggers.poller("file_appeared", settings=SETTINGS_SCHEMA)
def file_appeared(ctx: Context, cursor: Any) -> tuple[list[Event], Any]:
    """Regular files appearing in a directory (not its subdirectories), oldest first."""
    directory = inside_roots(ctx.resources, ctx.settings["directory"])
    listed = [(entry[0], entry[1], entry) for entry in _files(directory, ctx.settings["pattern"])]
    found, cursor = after_cursor(listed, cursor, ctx.settings["max_events"])
    return [_event(directory, changed, name, size) for changed, name, size in found], cursor


def _files(directory: os.PathLike[str], pattern: str) -> list[tuple[int, str, int]]:
    entries = []
    with os_errors(str(directory)), os.scandir(directory) as listing:
        for entry in listing:
            if not fnmatch.fnmatchcase(entry.name, pattern):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed while we looked
                continue
            if stat.S_ISREG(info.st_mode):
                entries.append((info.st_ctime_ns, entry.name, info.st_size))
    return entries


def _event(directory: os.PathLike[str], changed: int, name: str, size: int) -> Event:
    at = datetime.fromtimestamp(changed / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    data = {"path": os.path.join(directory, name), "name": name, "size": size, "appeared_at": at}
    return Event(key=f"{name}@{changed}", data=data)
