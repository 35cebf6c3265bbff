"""Connector packages for the benchmark, made visible through PYTHONPATH.

Each is a module plus a ``*.dist-info`` holding its entry point: exactly
what ``pip install`` leaves in site-packages, so discovery finds them the
way it finds real ones, without installing anything.
"""

from __future__ import annotations

from pathlib import Path

TRIVIAL = '''
from connector_proxy.sdk import Connector, Context, Event, InboundRequest, SharedToken

connector = Connector("{name}", description="A trivial command, category and webhook for the benchmark.")


@connector.command("Echo")
def echo(ctx: Context, text: str) -> dict[str, str]:
    """Answer the text it was given.

    Args:
        text: Anything.
    """
    return {{"text": text}}


@connector.typeahead("letters")
def letters(ctx: Context, prefix: str, limit: int) -> list[str]:
    """Letters starting with the prefix."""
    return [letter for letter in "abcdefghij" if letter.startswith(prefix)][:limit]


SECRET = {{"type": "object", "properties": {{"secret": {{"type": "string", "secret": True}}}}}}


@connector.webhook("ping", verifier=SharedToken(), settings=SECRET)
def ping(ctx: Context, request: InboundRequest) -> Event:
    """One event per request, keyed by its body."""
    return Event(request.body_digest(), {{"n": 1}})
'''

DUMMY = '''
from connector_proxy.sdk import Connector, Context

connector = Connector("{name}", description="Dummy connector {number} of the benchmark.")


@connector.command("Ping")
def ping(ctx: Context, note: str = "") -> dict[str, str]:
    """Answer pong.

    Args:
        note: Ignored.
    """
    return {{"pong": note}}
'''


def write_site(folder: Path, dummies: int) -> Path:
    """The trivial ``bench`` connector, its twin ``bench_isolated``, and ``dummies`` more."""
    folder.mkdir(parents=True, exist_ok=True)
    _package(folder, "bench_trivial", "bench", TRIVIAL.format(name="bench"))
    _package(folder, "bench_isolated", "bench_isolated", TRIVIAL.format(name="bench_isolated"))
    for number in range(dummies):
        name = f"dummy{number:03d}"
        _package(folder, f"bench_{name}", name, DUMMY.format(name=name, number=number))
    return folder


def _package(folder: Path, module: str, entry: str, source: str) -> None:
    (folder / f"{module}.py").write_text(source)
    info = folder / f"{module}-1.0.dist-info"  # the name before the first dash identifies it
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[connector_proxy.connectors]\n{entry} = {module}:connector\n")
