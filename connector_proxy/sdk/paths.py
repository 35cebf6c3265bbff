"""URL paths built from what a caller sent, so that nothing they send can walk a path.

Every segment is checked and percent-encoded on its own: a dot segment (``.``, ``..``),
an encoded separator or dot (``%2f``, ``%2e%2e``), a backslash, an empty segment or a
control character is refused (:class:`UnsafeSegment`) before anything is sent, so a
client normalising dot segments (urllib3 does) cannot turn ``a/../../v1/jobs`` into a
path we never meant to ask for.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

_DOTS = (".", "..")


class UnsafeSegment(ValueError):
    """A segment that could change which path is asked for; the message says why, not what."""


def segment(text: str) -> str:
    """One path segment, percent-encoded (``/`` too); UnsafeSegment if it could walk a path."""
    decoded = unquote(text)
    if not text or text in _DOTS or decoded in _DOTS:
        raise UnsafeSegment("an empty or dot segment")
    if any(c in decoded for c in "/\\") or (decoded != text and "%" in decoded):
        raise UnsafeSegment("an encoded separator")
    if any(ord(c) < 32 or ord(c) == 127 for c in decoded):
        raise UnsafeSegment("a control character")
    return quote(text, safe="")


def url_path(*segments: str) -> str:
    """``/a/b``: the segments checked and encoded one by one (``url_path("v1", "jobs", job_id)``)."""
    return "".join("/" + segment(part) for part in segments)
