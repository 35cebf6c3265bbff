"""ReadFile, WriteFile, ListDirectory, DeleteFile: only inside the configured roots.

A path is resolved (symlinks and ..) before it is checked, and the file is
then opened without following a symlink in its last component, so a link
cannot lead a call outside the roots.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from connector_proxy.sdk import CommandError, Connector, Context
from connector_proxy_os import errors
from connector_proxy_os.settings import OsResources

MAX_ENTRIES = 1000


def inside_roots(resources: OsResources, wanted: str, follow_last: bool = True) -> Path:
    """The resolved path, if it lies inside a root (relative paths are taken from the first root).

    ``follow_last=False`` resolves the directories only: the last component is
    the entry itself, so a symlink names the link, not what it points to.
    """
    if not resources.roots:
        raise CommandError(errors.PATH_OUTSIDE_ROOTS, "no roots are configured")
    candidate = Path(wanted) if os.path.isabs(wanted) else resources.roots[0] / wanted
    if follow_last:
        resolved = candidate.resolve()
    elif candidate.name in ("", ".", ".."):
        raise CommandError(errors.NOT_A_FILE, f"{wanted!r} names a directory, not a file")
    else:
        resolved = candidate.parent.resolve() / candidate.name
    if not any(resolved == root or resolved.is_relative_to(root) for root in resources.roots):
        raise CommandError(errors.PATH_OUTSIDE_ROOTS, f"{wanted!r} is outside the configured roots")
    return resolved


def register(connector: Connector) -> None:
    @connector.command("ReadFile")
    def read_file(ctx: Context, path: str, output: Literal["text", "base64"] = "text") -> dict[str, Any]:
        """Read a file inside the roots.

        Args:
            path: The file: absolute, or relative to the first root.
            output: text (base64 anyway if it is not UTF-8) or base64.
        """
        resources: OsResources = ctx.resources
        target = inside_roots(resources, path)
        raw = _read(target, resources.max_file_bytes)
        if output == "text":
            try:
                return {"path": str(target), "content": raw.decode(), "encoding": "text", "size": len(raw)}
            except UnicodeDecodeError:
                pass
        return {
            "path": str(target),
            "content": base64.b64encode(raw).decode(),
            "encoding": "base64",
            "size": len(raw),
        }

    @connector.command("WriteFile")
    def write_file(
        ctx: Context,
        path: str,
        content: str,
        encoding: Literal["text", "base64"] = "text",
        mode: Literal["create", "overwrite", "append"] = "overwrite",
        make_dirs: bool = False,
    ) -> dict[str, Any]:
        """Write a file inside the roots.

        Args:
            path: The file: absolute, or relative to the first root.
            content: Text, or base64 for binary content.
            encoding: text or base64.
            mode: create (fails if it exists), overwrite or append.
            make_dirs: Create missing parent directories (inside the roots).
        """
        resources: OsResources = ctx.resources
        target = inside_roots(resources, path)
        raw = _bytes(content, encoding)
        if len(raw) > resources.max_file_bytes:
            raise CommandError(errors.FILE_TOO_LARGE, f"the content is over {resources.max_file_bytes} bytes")
        if make_dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
        flags = (
            os.O_WRONLY
            | os.O_CREAT
            | os.O_NOFOLLOW
            | {"create": os.O_EXCL, "overwrite": os.O_TRUNC, "append": os.O_APPEND}[mode]
        )
        try:
            descriptor = os.open(target, flags, 0o640)
        except FileExistsError:
            raise CommandError(errors.FILE_EXISTS, f"{path!r} exists") from None
        except FileNotFoundError:
            raise CommandError(errors.FILE_NOT_FOUND, f"the directory of {path!r} does not exist") from None
        except (IsADirectoryError, OSError) as error:
            raise CommandError(errors.NOT_A_FILE, f"{path!r} cannot be written: {error.strerror}") from None
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(raw)
        return {"path": str(target), "written": len(raw), "size": target.stat().st_size}

    @connector.command("ListDirectory")
    def list_directory(ctx: Context, path: str = ".") -> dict[str, Any]:
        """List a directory inside the roots (at most 1000 entries, sorted by name).

        Args:
            path: The directory: absolute, or relative to the first root.
        """
        resources: OsResources = ctx.resources
        target = inside_roots(resources, path)
        if not target.is_dir():
            raise CommandError(errors.FILE_NOT_FOUND, f"{path!r} is not a directory")
        names = sorted(os.listdir(target))
        return {
            "path": str(target),
            "entries": [_entry(target / name) for name in names[:MAX_ENTRIES]],
            "truncated": len(names) > MAX_ENTRIES,
        }

    @connector.command("DeleteFile")
    def delete_file(ctx: Context, path: str) -> dict[str, Any]:
        """Delete a file (not a directory) inside the roots; a symlink is deleted itself, never its target.

        Args:
            path: The file: absolute, or relative to the first root.
        """
        resources: OsResources = ctx.resources
        target = inside_roots(resources, path, follow_last=False)
        try:
            mode = target.lstat().st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                raise CommandError(errors.NOT_A_FILE, f"{path!r} is not a regular file or a symlink")
            target.unlink()
        except FileNotFoundError:
            raise CommandError(errors.FILE_NOT_FOUND, f"{path!r} does not exist") from None
        return {"path": str(target), "deleted": True}


def _read(target: Path, limit: int) -> bytes:
    try:
        descriptor = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise CommandError(errors.FILE_NOT_FOUND, f"{target} does not exist") from None
    except OSError as error:
        raise CommandError(errors.NOT_A_FILE, f"{target} cannot be read: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise CommandError(errors.NOT_A_FILE, f"{target} is not a regular file")
        raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise CommandError(errors.FILE_TOO_LARGE, f"{target} is over {limit} bytes")
    return raw


def _bytes(content: str, encoding: str) -> bytes:
    if encoding == "text":
        return content.encode()
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise CommandError(errors.INVALID_CONTENT, "content is not valid base64") from None


def _entry(path: Path) -> dict[str, Any]:
    info = path.lstat()
    kind = "directory" if stat.S_ISDIR(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else "other"
    return {
        "name": path.name,
        "type": "symlink" if stat.S_ISLNK(info.st_mode) else kind,
        "size": info.st_size,
        "modified": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(timespec="seconds"),
    }
