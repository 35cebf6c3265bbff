"""A call to another proxy's command, passed on as it came and answered as that proxy answered.

The body goes unchanged (its task data unread); the answer comes back unchanged, its
media type too (a SpiffWorkflow package's v1 answer may be text), unless it is not
one a host can take: a redirect (never followed), an HTML page (a crashed server's),
or a refusal of our key, each a ``ProxyInvalidAnswer`` naming the proxy.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector_proxy.host.error_codes import PROXY_INVALID_ANSWER
from connector_proxy.proxies.client import Answer, Remote
from connector_proxy.sdk.errors import CommandError
from connector_proxy.sdk.outbound import origin_of
from connector_proxy.sdk.paths import url_path

PASSED_HEADERS = ("Location", "Preference-Applied", "Retry-After")  # what a 202 or a 503 tells the host


@dataclass(frozen=True)
class Passed:
    """The remote's answer, for the host."""

    status: int
    body: bytes
    headers: dict[str, str]
    media_type: str


def forward_call(remote: Remote, command_id: str, body: bytes, prefer: str | None, timeout: float) -> Passed:
    """POST the call to the remote's ``/v1/do/<id>``; ``Prefer`` goes along, so its jobs stay its own."""
    headers = {"Content-Type": "application/json"}
    if prefer:
        headers["Prefer"] = prefer
    answer = remote.request("POST", url_path("v1", "do", *command_id.split("/")), timeout, body, headers)
    return _passed(remote, answer)


def forward_typeahead(remote: Remote, path: str, query: bytes, timeout: float, with_key: bool) -> Passed:
    """GET the remote's suggestions at ``path`` (made by ``url_path``); our key goes only with a caller
    that showed one of ours."""
    answer = remote.request(
        "GET", f"{path}?{query.decode('latin-1')}" if query else path, timeout, None, None, with_key
    )
    return _passed(remote, answer)


def redirect_location(remote: Remote, path: str, query: bytes = b"") -> str:
    """Where a host (or a browser) is sent when the operator prefers redirects."""
    return f"{remote.settings.url}{path}" + (f"?{query.decode('latin-1')}" if query else "")


def _passed(remote: Remote, answer: Answer) -> Passed:
    where = f"proxy {remote.settings.name} ({remote.origin})"
    if 300 <= answer.status < 400:
        raise CommandError(
            PROXY_INVALID_ANSWER, f"{where} answered a redirect ({answer.status}): not followed"
        )
    if answer.status in (401, 403):
        key = f"proxies.{remote.settings.name}.api_key"
        raise CommandError(PROXY_INVALID_ANSWER, f"{where} refused our key ({key}): {answer.status}")
    media_type = next((v for k, v in answer.headers.items() if k.lower() == "content-type"), "")
    if not media_type or "html" in media_type.lower():
        raise CommandError(
            PROXY_INVALID_ANSWER, f"{where} answered {answer.status} with a page, not an answer"
        )
    kept = {k.title(): v for k, v in answer.headers.items() if k.title() in PASSED_HEADERS}
    if "Location" in kept:
        kept["Location"] = _location(remote, where, kept["Location"])
    return Passed(answer.status, answer.body, kept, media_type)


def _location(remote: Remote, where: str, location: str) -> str:
    """A 202's (or a 303's) ``Location``: the remote's own path (a job's), made absolute so the host asks
    the remote; one pointing anywhere else is refused, so a remote cannot send a host somewhere."""
    if location.startswith("/") and not location.startswith("//"):
        return remote.settings.url.rstrip("/") + location
    if origin_of(location) == remote.origin and not any(ord(c) < 33 for c in location):
        return location
    raise CommandError(PROXY_INVALID_ANSWER, f"{where} answered a Location outside it: not passed on")
