"""Read an OpenAPI document (a file or an http(s) URL, JSON or YAML) and check it against its version's
meta-schema.

Parsing is PyYAML's safe loader (its C version when built with libyaml) for YAML and the standard JSON
reader for JSON; checking is openapi-spec-validator's, against the OpenAPI Initiative's own
meta-schemas (2.0, 3.0, 3.1), through its jsonschema-rs backend: GitHub's 13 MB document is checked in
milliseconds, where jsonschema in Python takes ten seconds. ``$ref`` resolution is
:mod:`connector_proxy_openapi.refs`'.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import schemas
from urllib3 import PoolManager, Timeout
from urllib3.exceptions import TimeoutError

from connector_proxy.sdk.factories import CannotBuild
from connector_proxy.sdk.outbound import BodyLate, BodyTooLarge, failure_reason, origin_of, read_body

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024  # GitHub's, the largest public one we know, is 13 MB
URL_SECONDS = 10.0  # a document URL must answer whole within this, or the connector is left out
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Document:
    """A parsed, checked document: its content, version ("2.0", "3.0", "3.1") and where it came from."""

    content: Mapping[str, Any]
    version: str
    location: str  # a file's absolute path or the URL
    root: Path | None  # the folder relative $refs may reach (None: a URL's document reaches no file)


def read(source: str, folder: Path) -> Document:
    """Read, parse and check ``source`` (relative to ``folder`` when a path); CannotBuild says why not."""
    if source.startswith(("http://", "https://")):
        raw, location, root = _fetch(source), source, None
    else:
        path = (folder / source).resolve()
        try:
            size = path.stat().st_size
            if size > MAX_DOCUMENT_BYTES:
                raise CannotBuild(
                    f"{source}: {size} bytes, over the {MAX_DOCUMENT_BYTES} a document may have"
                )
            raw = path.read_bytes()
        except OSError as error:
            raise CannotBuild(f"{source}: {error.strerror or error}") from None
        # relative $refs stay inside the configuration's folder (or the document's, when it lies elsewhere)
        root = folder.resolve() if path.is_relative_to(folder.resolve()) else path.parent
        location = str(path)
    shown = origin_of(source) if root is None else source  # a URL's path and query may carry a token
    content = parse(raw, shown)
    return Document(content, check(content, shown), location, root)


def parse(raw: bytes, source: str) -> dict[str, Any]:
    """JSON when it looks like JSON, else YAML (a superset); the top must be an object."""
    try:
        text = raw.decode("utf-8-sig")
        loaded = load_text(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        where = getattr(error, "problem_mark", None) or getattr(error, "lineno", None)
        raise CannotBuild(f"{source}: not JSON or YAML ({type(error).__name__}{_at(where)})") from None
    if not isinstance(loaded, dict):
        raise CannotBuild(f"{source}: the document must be an object (a mapping at its top)")
    return loaded


def load_text(text: str) -> Any:
    """JSON's reader for JSON (fast on big documents), else YAML's safe loader (a superset of JSON)."""
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - the safe loader, in C when libyaml is there


def _at(where: Any) -> str:
    if where is None:
        return ""
    line = getattr(where, "line", None)
    return f" at line {line + 1}" if isinstance(line, int) else f" at line {where}"


def check(content: Mapping[str, Any], source: str) -> str:
    """The document's version, once it fits that version's meta-schema (its first misfit says why)."""
    if str(content.get("swagger", "")) == "2.0":
        version, validator = "2.0", schemas.openapi_v2_schema_validator
    elif str(content.get("openapi", "")).startswith("3.0."):
        version, validator = "3.0", schemas.openapi_v30_schema_validator
    elif str(content.get("openapi", "")).startswith("3.1."):
        version, validator = "3.1", schemas.openapi_v31_schema_validator
    else:
        raise CannotBuild(f"{source}: neither OpenAPI 3.0, 3.1 nor Swagger 2.0 (no openapi or swagger key)")
    error = next(iter(validator.iter_errors(content)), None)
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        said = str(error.message).splitlines()[0][:200]
        raise CannotBuild(f"{source}: not a valid OpenAPI {version} document at {where}: {said}")
    return version


def _fetch(url: str) -> bytes:
    """A document URL's body, whole, within URL_SECONDS and MAX_DOCUMENT_BYTES; the message names the
    origin only (a URL may carry a token)."""
    where = origin_of(url)
    deadline = time.monotonic() + URL_SECONDS
    pool = PoolManager(retries=False)
    try:
        response = pool.request(
            "GET", url, timeout=Timeout(connect=URL_SECONDS, read=URL_SECONDS), preload_content=False
        )
        try:
            if response.status != 200:
                raise CannotBuild(f"{where}: the document's URL answered {response.status}")
            return read_body(response, deadline, MAX_DOCUMENT_BYTES)
        finally:
            response.release_conn()
    except BodyTooLarge:
        raise CannotBuild(f"{where}: the document is over {MAX_DOCUMENT_BYTES} bytes") from None
    except (BodyLate, TimeoutError):
        raise CannotBuild(f"{where}: the document did not arrive within {URL_SECONDS:g} s") from None
    except CannotBuild:
        raise
    except Exception as error:  # urllib3's errors carry the whole URL: never shown
        raise CannotBuild(f"{where}: the document could not be read ({failure_reason(error)})") from None
    finally:
        pool.clear()
