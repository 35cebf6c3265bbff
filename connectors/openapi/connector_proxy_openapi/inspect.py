"""``connector-proxy openapi inspect DOCUMENT``: what a document would give, before it is configured."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from connector_proxy.sdk.factories import CannotBuild, Recipe
from connector_proxy_openapi import factory


class Inspect:
    """The ``openapi`` action of connector-proxy (the ``connector_proxy.cli`` entry point)."""

    help = "openapi inspect DOCUMENT: list the commands an OpenAPI document would give"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        what = parser.add_subparsers(dest="openapi_action", required=True)
        inspect = what.add_parser("inspect", help=self.help, description=self.help)
        inspect.add_argument("document", help="a file (JSON or YAML) or an http(s) URL")
        inspect.add_argument("--name", default="api", help="the connector's name in the ids (default: api)")
        inspect.add_argument("--json", action="store_true", help="the catalog entries as JSON")

    def run(self, arguments: argparse.Namespace) -> int:
        try:
            connector = factory(Recipe(arguments.name, arguments.document, Path.cwd()))
        except CannotBuild as problem:
            print(f"connector-proxy openapi: {problem}", file=sys.stderr)
            return 1
        entries = [_entry(connector.name, command) for command in connector.commands.values()]
        if arguments.json:
            print(json.dumps(entries, indent=2))
            return 0
        print(f"{connector.description} {len(entries)} commands")
        for entry in entries:
            parameters = ", ".join(
                name + ("*" if name in entry["required"] else "") for name in entry["parameters"]
            )
            print(f"{entry['id']:50} {entry['operation']}  ({parameters})")
        return 0


def _entry(name: str, command: Any) -> dict[str, Any]:
    operation = command.operation or {}
    return {
        "id": f"{name}/{command.name}",
        "operation": f"{operation.get('method')} {operation.get('path')}",
        "operationId": operation.get("operationId"),
        "summary": command.description.partition("\n\n")[0],
        "parameters": list(command.parameters.get("properties", {})),
        "required": list(command.parameters.get("required", ())),
        "errors": [code.code for code in command.errors],
    }


command = Inspect()
