"""What every section's checks share: the one error, a value's type, a misspelt key's likely meaning."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any

# a subscription's or a typeahead category's name: one path segment of the URL that reaches it, so
# never "." or "..", which no URL can hold as a segment (a client resolves them away)
SEGMENT_NAME = re.compile(r"(?!\.\.?$)[A-Za-z0-9_.-]{1,64}")


class ConfigError(ValueError):
    """The configuration is unusable; the message names the key."""


def named(unknown: set[str], known: set[str] | frozenset[str]) -> str:
    """Unknown names, each with the known one it is likely a misspelling of."""
    return ", ".join(name + did_you_mean(name, known) for name in sorted(unknown))


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean <the closest known word>?)``, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def expected(hint: Any) -> Any:
    """The class a value must be: ``tuple[str, ...]`` is checked as a tuple of text."""
    return tuple if getattr(hint, "__origin__", None) is tuple else hint


def typed(where: str, value: Any, hint: Any) -> Any:
    """A file's value as its key's type hint asks (an integer is a number, a list of text a tuple);
    ConfigError naming ``where`` otherwise."""
    wanted = expected(hint)
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if wanted is float and isinstance(value, float) and not math.isfinite(value):
        # TOML reads nan and inf; nan compares false with everything, so no range check would catch it
        raise ConfigError(f"{where} must be a finite number, got {value}")
    if wanted is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    valid = isinstance(value, wanted) and not (wanted is int and isinstance(value, bool))
    if not valid:
        raise ConfigError(f"{where} must be {type_name(wanted)}, got {type(value).__name__}")
    return value


def type_name(wanted: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    return names.get(wanted, "a list of strings")


def plain_url(url: str) -> bool:
    """An http(s) URL with a host and no query: a base other paths are added to."""
    scheme, _, rest = url.partition("://")
    return scheme in ("http", "https") and bool(rest) and not rest.startswith("/") and "?" not in rest
