"""A SpiffWorkflow package's auth class (the old proxy's Xero style) as an SDK OAuth2.

Such a class describes its provider in ``app_description(config)``: the
authorization, token and refresh URLs, the scope, often the client id and
secret. The daemon then runs the same sign-in as for an SDK connector.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from connector_proxy.sdk.auth import OAuth2


def auth_of(name: str, cls: type, config: Mapping[str, Any]) -> OAuth2:
    """Ask the class for its description, with the connector's configuration."""
    instance = cls(**_constructor_arguments(cls, config))
    describe = instance.app_description
    description = describe(dict(config)) if _takes_argument(describe) else describe()
    if not isinstance(description, Mapping):
        raise TypeError(f"{name}.app_description() answered {type(description).__name__}, not a dict")
    token_url = description.get("access_token_url") or description.get("token_url")
    if not isinstance(token_url, str):
        raise TypeError(f"{name}.app_description() names no access_token_url")
    return OAuth2(
        name=name,
        token_url=token_url,
        authorization_url=_text(description.get("authorization_url")),
        scopes=tuple(str(description.get("scope") or "").split()),
        description=(inspect.getdoc(cls) or "").split("\n\n")[0] if "__doc__" in cls.__dict__ else "",
        client_id=_text(description.get("client_id")),
        client_secret=_text(description.get("client_secret")),
    )


def _constructor_arguments(cls: type, config: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor parameters are filled from the configuration by name (client_id, client_secret…)."""
    parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    return {
        name: config.get(name)
        for name, parameter in parameters.items()
        if name != "self"
        and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        and (name in config or parameter.default is parameter.empty)
    }


def _takes_argument(method: Any) -> bool:
    try:
        return bool(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        return True


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
