"""Check BPMN models against the catalog before they are deployed.

Every SpiffWorkflow service task names a command (``spiffworkflow:serviceTaskOperator``)
and gives its parameters as Python expressions the host evaluates. A model is
checked against the catalog the host sees (``GET /v1/commands``): the command
exists; each parameter is known, each required one given, and a literal value
fits the parameter's schema; each error boundary event on the task catches a
code the command can answer with. Files are parsed with defusedxml: no DTD,
no entity expansion, no external reference.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from connector_proxy.calls.catalog import run_by_host
from connector_proxy.calls.validation import LinearValidator, closed
from connector_proxy.host import error_codes

ERROR, NOTE = "error", "note"
KINDS = (
    "unknown_command",
    "unknown_parameter",
    "missing_parameter",
    "wrong_type",
    "uncaught_code",
    "host_built_in",
    "deprecated_command",
    "deprecated_parameter",
)
# codes any SDK command's call may be answered with besides its own (a legacy package's entry lists its own)
CALL_LEVEL_CODES = tuple(
    code.code
    for code in (
        error_codes.INVALID_PARAMETERS,
        error_codes.DESTINATION_BUSY,
        error_codes.DESTINATION_TIMEOUT,
        error_codes.COMMAND_CRASHED,
        error_codes.UNRENDERABLE_ANSWER,
        error_codes.WORKER_CRASHED,
        error_codes.WORKER_TIMED_OUT,
        error_codes.WORKER_PROTOCOL_ERROR,
        error_codes.WORKER_UNAVAILABLE,
    )
)


class MalformedModel(ValueError):
    """A file that is not well-formed, safe BPMN XML; the message says why and where."""


@dataclass(frozen=True)
class Finding:
    """One problem (or note) in one model, named by file, task and parameter."""

    file: str
    task_id: str
    task_name: str | None
    command: str | None
    parameter: str | None
    kind: str  # one of KINDS, documented in docs/spiffworkflow.md
    message: str
    severity: str = ERROR

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        task = f"task {self.task_id}" + (f" ({self.task_name!r})" if self.task_name else "")
        where = f"{self.file}: {task}" + (f": parameter {self.parameter}" if self.parameter else "")
        return f"{where}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class CommandShape:
    """What the catalog says of one command: its parameters' schemas, the required ones, its codes."""

    properties: Mapping[str, Any]
    required: frozenset[str]
    codes: tuple[re.Pattern[str], ...]
    deprecated: str | None = None  # the connector's message, with its replacement
    deprecated_parameters: Mapping[str, str] = field(default_factory=dict)  # name -> the message

    @classmethod
    def from_catalog_entry(cls, entry: Mapping[str, Any]) -> CommandShape:
        parameters = entry.get("parameters", [])
        codes = [e["error_code"] for e in entry.get("errors", [])] + list(CALL_LEVEL_CODES)
        return cls(
            properties={p["id"]: p.get("schema", {}) for p in parameters},
            required=frozenset(p["id"] for p in parameters if p.get("required")),
            codes=tuple(re.compile(re.sub(r"<[^>]*>", ".+", re.escape(code))) for code in codes),
            deprecated=deprecation(entry) if entry.get("deprecated") else None,
            deprecated_parameters={p["id"]: deprecation(p) for p in parameters if p.get("deprecated")},
        )

    def raises(self, code: str) -> bool:
        return any(pattern.fullmatch(code) for pattern in self.codes)


def deprecation(entry: Mapping[str, Any]) -> str:
    """A command's or a parameter's deprecation in words: its message (a parameter has none), and
    what to use instead."""
    said = entry["deprecated"] if isinstance(entry.get("deprecated"), str) else "deprecated"
    instead = entry.get("replaced_by")
    return f"{said}; use {instead}" if instead else said


def shapes_of(catalog: Iterable[Mapping[str, Any]]) -> dict[str, CommandShape]:
    """The catalog (``GET /v1/commands``'s list) as shapes by command id."""
    return {entry["id"]: CommandShape.from_catalog_entry(entry) for entry in catalog}


@dataclass(frozen=True)
class ServiceTask:
    """One service task of a model: the command it calls, the parameters it gives, the codes it catches."""

    file: str
    task: Element
    command: str | None  # None: not a connector call (a script-backed service task, say)
    given: Mapping[str, str | None]  # parameter -> the Python expression the host evaluates
    caught: Sequence[str]

    def finding(
        self, kind: str, message: str, parameter: str | None = None, severity: str = ERROR
    ) -> Finding:
        task = self.task
        return Finding(
            self.file, task.get("id", "?"), task.get("name"), self.command, parameter, kind, message, severity
        )


def service_tasks(file: str, xml: bytes) -> list[ServiceTask]:
    """Every service task of one BPMN file; raises MalformedModel when it cannot be read safely."""
    root = _parse(file, xml)
    errors_by_id = {e.get("id"): e.get("errorCode") for e in _all(root, "error")}
    catches = _catches(root, errors_by_id)
    found = []
    for task in _all(root, "serviceTask"):
        operator = next(_all(task, "serviceTaskOperator"), None)
        command = None if operator is None else operator.get("id", "")
        given = (
            {} if operator is None else {p.get("id", ""): p.get("value") for p in _all(operator, "parameter")}
        )
        found.append(ServiceTask(file, task, command, given, catches.get(task.get("id", ""), [])))
    return found


Check = Callable[[ServiceTask], Iterable[Finding]]


def report(models: Iterable[tuple[str, bytes]], shapes: Mapping[str, CommandShape]) -> dict[str, Any]:
    """What ``POST /v1/validate`` answers and ``connector-proxy validate`` prints: every finding, and
    ``ok`` when none is an error. Raises MalformedModel for the first file that cannot be read."""
    return report_with(models, lambda task: check_task(task, shapes))


def report_with(models: Iterable[tuple[str, bytes]], check: Check) -> dict[str, Any]:
    """Every finding ``check`` makes of every service task of the models, in the report's shape."""
    findings: list[Finding] = []
    files = tasks = 0
    for name, xml in models:
        found = service_tasks(name, xml)  # parsed once
        findings += [finding for task in found for finding in check(task)]
        files += 1
        tasks += len(found)
    return {
        "ok": not any(f.severity == ERROR for f in findings),
        "files": files,
        "service_tasks": tasks,
        "findings": [f.describe() for f in findings],
    }


def _parse(file: str, xml: bytes) -> Element:
    try:
        root: Element = fromstring(xml, forbid_dtd=True)
    except DefusedXmlException as refused:
        raise MalformedModel(
            f"{file}: refused ({type(refused).__name__}): no DTD or entities in a model"
        ) from None
    except ParseError as error:
        raise MalformedModel(f"{file}: not well-formed XML ({error})") from None
    if _local(root.tag) != "definitions":
        raise MalformedModel(
            f"{file}: not a BPMN model (the root element is {_local(root.tag)!r}, not definitions)"
        )
    return root


def check_task(task: ServiceTask, shapes: Mapping[str, CommandShape]) -> Iterator[Finding]:
    """What one service task gets wrong against the catalog."""
    command, finding = task.command, task.finding
    if command is None:
        return  # not a connector call (a script-backed service task, say)
    host_runs = run_by_host(command)
    if host_runs is not None:  # whatever the catalog offers under this id, the call never reaches it
        yield finding("host_built_in", f"{host_runs} (not checked)", severity=NOTE)
        return
    shape = shapes.get(command)
    if shape is None:
        yield finding("unknown_command", f"{command!r} is not in the proxy's catalog")
        return
    if shape.deprecated:
        yield finding("deprecated_command", shape.deprecated, severity=NOTE)
    yield from _check_parameters(shape, task.given, finding)
    for code in task.caught:
        if not shape.raises(code):
            yield finding(
                "uncaught_code", f"an error boundary event catches {code!r}, which {command} never raises"
            )


def _check_parameters(
    shape: CommandShape, given: Mapping[str, str | None], finding: Callable[..., Finding]
) -> Iterator[Finding]:
    for name in sorted(set(given) - set(shape.properties)):
        yield finding("unknown_parameter", "the command has no such parameter", name)
    for name in sorted(set(given) & set(shape.deprecated_parameters)):
        yield finding("deprecated_parameter", shape.deprecated_parameters[name], name, NOTE)
    for name in sorted(shape.required):
        if not (given.get(name) or "").strip():
            yield finding("missing_parameter", "required, and given no value", name)
    for name, expression in sorted(given.items()):
        schema = shape.properties.get(name)
        value = literal(expression)
        if schema is None or value is NOT_A_LITERAL:
            continue  # an expression: its value is known only when the task runs
        problem = next(closed(schema, LinearValidator).iter_errors(value), None)
        if problem is not None:
            yield finding(
                "wrong_type",
                f"the literal {expression!r} fails the parameter's schema: {problem.message}",
                name,
            )


NOT_A_LITERAL = object()


def literal(expression: str | None) -> Any:
    """The value of a Python literal (what the host would evaluate it to), else a marker."""
    if expression is None or not expression.strip():
        return NOT_A_LITERAL
    try:
        value = ast.literal_eval(expression.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return NOT_A_LITERAL
    return list(value) if isinstance(value, tuple) else value


def _catches(root: Element, errors_by_id: Mapping[str | None, str | None]) -> dict[str, list[str]]:
    """Task id -> the error codes its error boundary events catch (a catch-all catches nothing named)."""
    caught: dict[str, list[str]] = {}
    for event in _all(root, "boundaryEvent"):
        for definition in _all(event, "errorEventDefinition"):
            code = errors_by_id.get(definition.get("errorRef"))
            if code:
                caught.setdefault(event.get("attachedToRef", ""), []).append(code)
    return caught


def _all(element: Element, local_name: str) -> Iterator[Element]:
    return (child for child in element.iter() if _local(child.tag) == local_name)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]
