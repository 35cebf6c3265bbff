"""``connector-proxy new <name>``: a connector package that installs, passes its tests and is listed.

What it writes is the smallest complete connector: the pyproject with its
entry point, a connector with a configuration schema and one typed,
documented command, tests using the SDK's helpers, and a README saying where
its configuration goes. Everything it imports comes from ``connector_proxy.sdk``.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from string import Template

from connector_proxy import __version__

VALID_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
BUILT_IN = ("http", "aws", "os")  # connectors/ in connector-proxy's repository, each its own package
GROUP = "connector_proxy.connectors"

PYPROJECT = Template("""[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "connector-proxy-$dashed"
version = "0.1.0"
description = "The $name connector for connector-proxy."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["connector-proxy>=$version"]

[project.optional-dependencies]
test = ["pytest>=8"]

# the daemon finds the connector here; the name is the first half of every command id
[project.entry-points."connector_proxy.connectors"]
$name = "$package:connector"

[tool.setuptools.packages.find]
include = ["$package*"]

[tool.setuptools.package-data]
$package = ["py.typed"]

# the package's own test settings: run inside another project (a clone of connector-proxy, say),
# pytest would otherwise take that project's options (its addopts, its plug-ins)
[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra"
""")

PACKAGE = Template('''"""The $name connector: one command to start from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from connector_proxy.sdk import CommandError, Connector, Context, ErrorCode, Result

NOBODY = ErrorCode("NobodyToGreet", "The name is empty once trimmed.", status=422)


def setup(config: Mapping[str, Any]) -> dict[str, Any]:
    """Runs once per worker with the validated configuration (defaults filled, secrets resolved)."""
    return {"greeting": config["greeting"]}


connector = Connector(
    "$name",
    description="The $name connector.",
    config_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {"greeting": {"type": "string", "default": "Hello"}},
    },
    setup=setup,
)


@connector.command("Greet", errors=[NOBODY])
def greet(ctx: Context, name: str, times: Annotated[int, {"minimum": 1, "maximum": 5}] = 1) -> Result:
    """Greet someone with the configured greeting.

    Args:
        name: Who to greet.
        times: How many times to say it.
    """
    if not name.strip():
        raise CommandError(NOBODY, "name is empty")
    ctx.log.info("greeting %s", name)
    return Result({"greeting": " ".join([f"{ctx.resources['greeting']} {name}"] * times)})
''')

TESTS = Template('''"""The $name connector through the daemon's own app, as a host would call it."""

from __future__ import annotations

from pathlib import Path

from connector_proxy.sdk.testing import call, completed, succeeded
from connector_proxy.testing import app_client

CONFIG = """
[discovery]
enable_unlisted = false

[connectors.$name.config]
greeting = "Hi"
"""


def test_greet_answers_with_the_configured_greeting(tmp_path: Path) -> None:
    client = app_client(tmp_path, CONFIG)

    assert succeeded(client, "$name/Greet", name="Ada", times=2) == {"greeting": "Hi Ada Hi Ada"}


def test_a_declared_error_reaches_the_host_in_the_envelope(tmp_path: Path) -> None:
    envelope = completed(app_client(tmp_path, CONFIG), "$name/Greet", name="  ")

    assert envelope["error"]["error_code"] == "NobodyToGreet"


def test_a_bad_parameter_is_refused_before_the_command_runs(tmp_path: Path) -> None:
    status, answer = call(app_client(tmp_path, CONFIG), "$name/Greet", {"name": "Ada", "times": 9})

    assert status == 400
    assert "times" in answer["error"]["message"]
''')

README = Template("""# connector-proxy-$dashed

The `$name` connector for [connector-proxy](https://pypi.org/project/connector-proxy/).

## Install and configure

    pip install -e .

Then, in the daemon's `plugins.toml`:

```toml
[connectors.$name.config]
greeting = "Hello"   # the default
```

Restart the daemon or send it SIGHUP; `connector-proxy check` says whether
the connector loads, `connector-proxy list` shows its commands.

## Commands

| command | parameters | answers |
|---|---|---|
| `$name/Greet` | `name` (required), `times` (1 to 5, default 1) | `{"greeting": "..."}` |

Errors: `NobodyToGreet` (422) for an empty name.

## Test

    pip install -e '.[test]' && pytest
""")


def create(name: str, where: Path) -> Path:
    """Write the package for connector ``name`` under ``where``; returns its folder."""
    if not VALID_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r}: a connector name is lower case letters, digits and _, starting with a letter"
        )
    taken = _taken(name)
    if taken:
        raise ValueError(f"{name!r} {taken}: installing this package would replace it; choose another name")
    package = f"connector_proxy_{name}"
    folder = where / f"connector-proxy-{name.replace('_', '-')}"
    if folder.exists():
        raise ValueError(f"{folder} exists already: nothing was written")
    values = {"name": name, "dashed": name.replace("_", "-"), "package": package, "version": __version__}
    files = {
        "pyproject.toml": PYPROJECT,
        f"{package}/__init__.py": PACKAGE,
        f"{package}/py.typed": Template(""),
        f"tests/test_{name}_connector.py": TESTS,
        "README.md": README,
    }
    for relative, template in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.substitute(values))
    return folder


def _taken(name: str) -> str | None:
    """Why ``name`` is someone's already (a connector's name is its command ids' first half, and the
    package's names are made from it), or None."""
    if name in BUILT_IN:
        return f"is a built-in connector's name (connector-proxy-{name})"
    for point in metadata.entry_points(group=GROUP):
        if point.name == name:
            where = f"{point.dist.name} {point.dist.version}" if point.dist else point.value
            return f"is the name of an installed connector ({where})"
    try:
        found = metadata.distribution(f"connector-proxy-{name.replace('_', '-')}")
    except metadata.PackageNotFoundError:
        return None
    return f"names an installed package ({found.metadata['Name']} {found.version})"
