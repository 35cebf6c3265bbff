"""What upgrading from one catalog to another breaks or changes in BPMN models.

``connector-proxy catalog export`` writes a catalog; ``validate --against`` and
``validate --diff`` (and ``POST /v1/validate`` with an ``against`` file) check each
service task of the models against both: a command removed, a parameter removed or
renamed, a new required parameter the task does not give, a type narrowed under
what the task gives, an error code its boundary event catches that is no longer
declared are breakages (errors); a command or parameter the upgrade deprecates,
still used, and keys its answer no longer declares are notes. A task that was
already broken before the upgrade is left to ``validate``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connector_proxy.calls.validation import LinearValidator, closed
from connector_proxy.models.validate import (
    NOT_A_LITERAL,
    NOTE,
    CommandShape,
    Finding,
    ServiceTask,
    deprecation,
    literal,
)

UPGRADE_KINDS = (
    "removed_command",
    "removed_parameter",
    "renamed_parameter",
    "new_required_parameter",
    "narrowed_type",
    "dropped_code",
    "deprecated_command",
    "deprecated_parameter",
    "answer_changed",
)
FORMAT = 1  # of an exported catalog


class UnreadableCatalog(ValueError):
    """A file that is neither an exported catalog nor a ``GET /v1/commands`` list."""


def exported(
    entries: list[dict[str, Any]],
    packages: Mapping[str, Mapping[str, str | None]],
    left_out: Mapping[str, str],
) -> dict[str, Any]:
    """What ``catalog export`` writes: the catalog the host sees, each ready connector's package
    (``distribution``, ``version``), and the connectors left out (their state): an export missing one
    says so."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "format": FORMAT,
        "exported_at": stamp,
        "packages": dict(packages),
        "left_out": dict(left_out),
        "commands": entries,
    }


def read_catalog(text: bytes | str, where: str) -> dict[str, dict[str, Any]]:
    """Catalog entries by command id, from an export or a saved ``GET /v1/commands``."""
    try:
        document = json.loads(text)
    except ValueError:
        raise UnreadableCatalog(f"{where}: not JSON") from None
    entries = document.get("commands") if isinstance(document, dict) else document
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("id"), str) for e in entries
    ):
        raise UnreadableCatalog(f"{where}: not a catalog (an export, or GET /v1/commands' list)")
    return {entry["id"]: entry for entry in entries}


@dataclass(frozen=True)
class Upgrade:
    """The catalog before and after, by command id."""

    old: Mapping[str, Mapping[str, Any]]
    new: Mapping[str, Mapping[str, Any]]

    def check(self, task: ServiceTask) -> Iterator[Finding]:
        """What the upgrade does to one service task."""
        before = self.old.get(task.command or "")
        if before is None:
            return  # not a call, or already unknown before: validate's to report
        after = self.new.get(task.command or "")
        if after is None:
            instead = f"; use {before['replaced_by']}" if before.get("replaced_by") else ""
            yield task.finding("removed_command", f"{task.command} is gone after the upgrade{instead}")
            return
        if after.get("deprecated") and not before.get("deprecated"):  # what this upgrade changes
            yield task.finding("deprecated_command", deprecation(after), severity=NOTE)
        yield from _answer(task, before.get("output_schema"), after.get("output_schema"))
        yield from _parameters(task, _by_id(before), _by_id(after))
        yield from _codes(
            task, CommandShape.from_catalog_entry(before), CommandShape.from_catalog_entry(after)
        )


def _answer(task: ServiceTask, before: Any, after: Any) -> Iterator[Finding]:
    """Keys the answer declared and no longer does: a script reading the result variable may miss them
    (a note: what a model's scripts read is not known here)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return
    gone = sorted(set(before.get("properties", {})) - set(after.get("properties", {})))
    if gone and after.get("type") == "object":
        keys = ", ".join(repr(key) for key in gone)
        yield task.finding("answer_changed", f"the answer no longer holds {keys}", severity=NOTE)


def _by_id(entry: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {p["id"]: p for p in entry.get("parameters", []) if isinstance(p, dict) and "id" in p}


def _parameters(
    task: ServiceTask, before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> Iterator[Finding]:
    for name in sorted(task.given):
        if name in before and name not in after:
            renamed = before[name].get("replaced_by")
            if renamed and renamed in after:
                yield task.finding("renamed_parameter", f"renamed {renamed!r}: give it under that name", name)
            else:
                yield task.finding("removed_parameter", "the command no longer has this parameter", name)
        elif name in before and name in after:
            yield from _narrowed(task, name, before[name], after[name])
            if after[name].get("deprecated") and not before[name].get("deprecated"):
                yield task.finding("deprecated_parameter", deprecation(after[name]), name, NOTE)
    for name in sorted(after):
        was_required = before.get(name, {}).get("required") is True
        if (
            after[name].get("required") is True
            and not was_required
            and not (task.given.get(name) or "").strip()
        ):
            yield task.finding("new_required_parameter", "required after the upgrade, and not given", name)


def _narrowed(
    task: ServiceTask, name: str, before: Mapping[str, Any], after: Mapping[str, Any]
) -> Iterator[Finding]:
    """A literal the old schema took and the new refuses; or, for an expression, types taken away."""
    old_schema, new_schema = before.get("schema", {}), after.get("schema", {})
    value = literal(task.given.get(name))
    if value is not NOT_A_LITERAL:
        if _fits(old_schema, value) and not _fits(new_schema, value):
            yield task.finding(
                "narrowed_type", f"{task.given[name]!r} fits no longer: {_rule(new_schema)}", name
            )
        return
    lost = _types(old_schema, before) - _types(new_schema, after)
    if lost:
        yield task.finding(
            "narrowed_type", f"no longer takes {', '.join(sorted(lost))}: {_rule(new_schema)}", name
        )


def _fits(schema: Mapping[str, Any], value: Any) -> bool:
    return next(closed(schema, LinearValidator).iter_errors(value), None) is None


def _types(schema: Mapping[str, Any], entry: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        return {str(entry.get("type", "any"))} if entry.get("type") not in (None, "any") else {"any"}
    return set(declared) if isinstance(declared, list) else {str(declared)}


def _rule(schema: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in schema.items() if k not in ("description", "title", "examples")}
    return json.dumps(shown, sort_keys=True)[:200]


def _codes(task: ServiceTask, before: CommandShape, after: CommandShape) -> Iterator[Finding]:
    for code in task.caught:
        if before.raises(code) and not after.raises(code):
            yield task.finding("dropped_code", f"a boundary event catches {code!r}, no longer declared")
