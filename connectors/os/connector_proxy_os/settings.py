"""The connector's table in plugins.toml: nothing is allowed until the operator lists it."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SLOT_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {"type": {"const": "path"}},
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {
                "type": {"const": "integer"},
                "minimum": {"type": "integer"},
                "maximum": {"type": "integer"},
            },
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "values"],
            "properties": {
                "type": {"const": "enum"},
                "values": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
        },
    ]
}
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "programs": {
            "type": "object",
            "description": "Programs that may run, by the name calls use.",
            "default": {},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "path": {
                        "type": "string",
                        "description": "A name found on PATH at start-up, or an absolute path.",
                    },
                    "args": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, SLOT_SCHEMA]},
                        "description": "What each argument may be: a regular expression it must match"
                        " whole, or a typed slot (a path inside the roots, an integer, one of a list).",
                    },
                    "max_args": {"type": "integer", "minimum": 0, "default": 64},
                },
            },
        },
        "roots": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Directories files may be in.",
        },
        "passthrough_env": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["PATH", "LANG", "LC_ALL", "TZ"],
        },
        "settable_env": {"type": "array", "items": {"type": "string"}, "default": []},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 60},
        "spawn_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 3600},
        "max_output_bytes": {"type": "integer", "minimum": 1, "default": 1024 * 1024},
        "on_output_overflow": {"enum": ["truncate", "fail"], "default": "truncate"},
        "contain_descendants": {
            "type": "boolean",
            "default": True,
            "description": "Run each program under a subreaper shepherd (Linux), so that nothing it starts,"
            " not even a descendant that left its process group, outlives the call; about 15 ms a call.",
        },
        "max_file_bytes": {"type": "integer", "minimum": 1, "default": 10 * 1024 * 1024},
        "cpu_seconds": {
            "type": "integer",
            "minimum": 1,
            "description": "RLIMIT_CPU of each program (Linux).",
        },
        "memory_bytes": {
            "type": "integer",
            "minimum": 1048576,
            "description": "RLIMIT_AS of each program (Linux).",
        },
    },
}


@dataclass(frozen=True)
class Slot:
    """One typed argument slot: a path inside the roots, an integer in a range, or one of a list.

    A pattern sees text, not meaning (``[\\w.-]+`` admits ``..``); a slot checks what the
    argument is. A path is handed to the program resolved, as it was checked.
    """

    type: str
    minimum: int | None = None
    maximum: int | None = None
    values: frozenset[str] = frozenset()


Rule = re.Pattern[str] | Slot


@dataclass(frozen=True)
class Program:
    name: str
    path: str
    rules: tuple[Rule, ...] | None  # None: any argument
    max_args: int


@dataclass(frozen=True)
class OsResources:
    programs: Mapping[str, Program]
    roots: tuple[Path, ...]
    passthrough: Mapping[str, str]
    settable_env: frozenset[str]
    timeout: float
    spawn_timeout: float
    max_output_bytes: int
    fail_on_overflow: bool
    contain_descendants: bool
    max_file_bytes: int
    cpu_seconds: int | None
    memory_bytes: int | None


def setup(config: Mapping[str, Any]) -> OsResources:
    """Resolve every program to an absolute path and every root to a real directory, now, once.

    ``config`` arrives validated, with the schema's defaults filled in.
    """
    return OsResources(
        programs={name: _program(name, entry) for name, entry in config["programs"].items()},
        roots=tuple(_root(root) for root in config["roots"]),
        passthrough={name: os.environ[name] for name in config["passthrough_env"] if name in os.environ},
        settable_env=frozenset(config["settable_env"]),
        timeout=float(config["timeout"]),
        spawn_timeout=float(config["spawn_timeout"]),
        max_output_bytes=config["max_output_bytes"],
        fail_on_overflow=config["on_output_overflow"] == "fail",
        contain_descendants=bool(config["contain_descendants"]) and sys.platform == "linux",
        max_file_bytes=config["max_file_bytes"],
        cpu_seconds=config.get("cpu_seconds"),
        memory_bytes=config.get("memory_bytes"),
    )


def _program(name: str, entry: Mapping[str, Any]) -> Program:
    wanted = entry.get("path", name)
    found = wanted if os.path.isabs(wanted) else shutil.which(wanted)
    if found is None or not os.access(found, os.X_OK):
        raise ValueError(f"program {name!r}: {wanted!r} is not an executable (on PATH or as a path)")
    rules = entry.get("args")
    return Program(
        name=name,
        path=os.path.realpath(found),
        rules=tuple(_rule(rule) for rule in rules) if rules is not None else None,
        max_args=entry.get("max_args", 64),
    )


def _rule(rule: str | Mapping[str, Any]) -> Rule:
    if isinstance(rule, str):
        return re.compile(rule)
    return Slot(
        type=rule["type"],
        minimum=rule.get("minimum"),
        maximum=rule.get("maximum"),
        values=frozenset(rule.get("values", ())),
    )


def _root(root: str) -> Path:
    path = Path(root).resolve()
    if not path.is_dir():
        raise ValueError(f"root {root!r} is not a directory")
    return path
