"""ReadFile, WriteFile, ListDirectory, DeleteFile: only inside the configured roots.

A path is resolved (symlinks and ..) before it is checked, and the file is
then opened without following a symlink in its last component, so a link
cannot lead a call outside the roots.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from connector_proxy.sdk import CommandError, CommandGroup, Context, Schema
from connector_proxy_os import errors
from connector_proxy_os.settings import OsResources

commands = CommandGroup()

MAX_ENTRIES = 1000
# the kernel stops a path at its first NUL byte: refused by the schema, before anything is resolved
Text = Annotated[str, Schema(pattern="^[^\\u0000]*$")]
PathText = Annotated[str, Schema(pattern="^[^\\u0000]*$", maxLength=4096)]


class FileRead(TypedDict):
    """ReadFile's answer: the content as text when it is UTF-8 (and text was asked), else base64."""

    path: str
    content: str
    encoding: Literal["text", "base64"]
    size: int


class FileWritten(TypedDict):
    path: str
    written: int  # bytes this call wrote
    size: int  # the file's size after it


class Entry(TypedDict):
    name: str
    type: Literal["file", "directory", "symlink", "other"]
    size: int
    modified: str  # ISO 8601, UTC, to the second


class Listing(TypedDict):
    path: str
    entries: list[Entry]
    truncated: bool  # over 1000 entries: the first 1000 by name


class Deleted(TypedDict):
    path: str
    deleted: bool


# what the kernel says, as the codes a modeler can catch (anything else is a bug, and crashes)
_CODES = {
    errno.ENOENT: (errors.FILE_NOT_FOUND, "does not exist"),
    errno.ENOTDIR: (errors.NOT_A_DIRECTORY, "is not a directory, or has a parent that is not"),
    errno.EISDIR: (errors.NOT_A_FILE, "is a directory"),
    errno.ELOOP: (errors.NOT_A_FILE, "is a symlink"),
    errno.ENXIO: (errors.NOT_A_FILE, "is not a regular file"),
    errno.ENAMETOOLONG: (errors.PATH_TOO_LONG, "is too long"),
    errno.EACCES: (errors.PERMISSION_DENIED, "may not be used by the daemon's user"),
    errno.EPERM: (errors.PERMISSION_DENIED, "may not be used by the daemon's user"),
    errno.EEXIST: (errors.FILE_EXISTS, "exists"),
}


@contextlib.contextmanager
def os_errors(wanted: str | None) -> Iterator[None]:
    """The kernel's refusals as declared error codes naming the path the call gave."""
    try:
        yield
    except OSError as error:
        if error.errno not in _CODES:
            raise
        code, problem = _CODES[error.errno]
        raise CommandError(code, f"{wanted!r} {problem}") from None


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


@commands.command("ReadFile")
def read_file(ctx: Context, path: PathText, output: Literal["text", "base64"] = "text") -> FileRead:
    """Read a file inside the roots.

    Args:
        path: The file: absolute, or relative to the first root.
        output: text (base64 anyway if it is not UTF-8) or base64.
    """
    resources: OsResources = ctx.resources
    with os_errors(path):
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


@commands.command("WriteFile")
def write_file(
    ctx: Context,
    path: PathText,
    content: str,
    encoding: Literal["text", "base64"] = "text",
    mode: Literal["create", "overwrite", "append"] = "overwrite",
    make_dirs: bool = False,
) -> FileWritten:
    """Write a file inside the roots.

    Args:
        path: The file: absolute, or relative to the first root.
        content: Text, or base64 for binary content.
        encoding: text or base64.
        mode: create (fails if it exists), overwrite or append.
        make_dirs: Create missing parent directories (inside the roots).
    """
    resources: OsResources = ctx.resources
    raw = _bytes(content, encoding)
    if len(raw) > resources.max_file_bytes:
        raise CommandError(errors.FILE_TOO_LARGE, f"the content is over {resources.max_file_bytes} bytes")
    with os_errors(path):
        target = inside_roots(resources, path)
        if make_dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
        with _opened(target, os.O_WRONLY | os.O_CREAT | _WRITE_MODES[mode]) as stream:
            stream.write(raw)
        return {"path": str(target), "written": len(raw), "size": target.stat().st_size}


@commands.command("ListDirectory")
def list_directory(ctx: Context, path: PathText = ".") -> Listing:
    """List a directory inside the roots (at most 1000 entries, sorted by name).

    Args:
        path: The directory: absolute, or relative to the first root.
    """
    resources: OsResources = ctx.resources
    with os_errors(path):
        target = inside_roots(resources, path)
        names = sorted(os.listdir(target))  # ENOTDIR when it is a file
    return {
        "path": str(target),
        "entries": [_entry(target / name) for name in names[:MAX_ENTRIES]],
        "truncated": len(names) > MAX_ENTRIES,
    }


@commands.command("DeleteFile")
def delete_file(ctx: Context, path: PathText) -> Deleted:
    """Delete a file (not a directory) inside the roots; a symlink is deleted itself, never its target.

    Args:
        path: The file: absolute, or relative to the first root.
    """
    resources: OsResources = ctx.resources
    with os_errors(path):
        target = inside_roots(resources, path, follow_last=False)
        mode = target.lstat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise CommandError(errors.NOT_A_FILE, f"{path!r} is not a regular file or a symlink")
        target.unlink()
    return {"path": str(target), "deleted": True}


_WRITE_MODES = {"create": os.O_EXCL, "overwrite": os.O_TRUNC, "append": os.O_APPEND}


@contextlib.contextmanager
def _opened(target: Path, flags: int) -> Iterator[Any]:
    """The regular file at ``target``, as a binary stream; anything else is refused unread.

    Opened without following a last symlink and without blocking, so a FIFO
    answers at once instead of holding the call until a writer comes.
    """
    descriptor = os.open(target, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o640)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise CommandError(errors.NOT_A_FILE, f"{target} is not a regular file")
        os.set_blocking(descriptor, True)
    except BaseException:
        os.close(descriptor)
        raise
    with os.fdopen(descriptor, "rb" if flags & os.O_ACCMODE == os.O_RDONLY else "wb") as stream:
        yield stream


def _read(target: Path, limit: int) -> bytes:
    with _opened(target, os.O_RDONLY) as stream:
        raw: bytes = stream.read(limit + 1)
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


def _entry(path: Path) -> Entry:
    info = path.lstat()
    kind: Literal["file", "directory", "symlink", "other"] = "other"
    if stat.S_ISLNK(info.st_mode):
        kind = "symlink"
    elif stat.S_ISDIR(info.st_mode):
        kind = "directory"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    return {
        "name": path.name,
        "type": kind,
        "size": info.st_size,
        "modified": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(timespec="seconds"),
    }
