"""The http connector's live check: each destination ``destinations.allow`` names answers."""

from __future__ import annotations

from urllib3 import Timeout
from urllib3.exceptions import HTTPError

from connector_proxy.sdk import CheckFailed, Context, DestinationBlocked
from connector_proxy.sdk.http.settings import HttpResources


def destinations_answer(ctx: Context) -> str:
    """Send HEAD / to each origin destinations.allow names; any HTTP answer counts."""
    resources: HttpResources = ctx.resources
    if not resources.named_origins:
        return "destinations.allow names no origin one by one: nothing to try"
    answered, failed = [], []
    for origin in resources.named_origins:
        seconds = max(0.05, min(resources.connect_timeout, ctx.seconds_left()))
        try:
            response = resources.pool.request(
                "HEAD", f"{origin}/", timeout=Timeout(seconds), retries=False, redirect=False
            )
        except (HTTPError, DestinationBlocked, OSError) as error:
            failed.append(f"{origin} ({_reason(error)})")
            continue
        answered.append(f"{origin} {response.status}")
    if failed:
        raise CheckFailed(f"no answer from {', '.join(failed)}; answered: {', '.join(answered) or 'none'}")
    return f"answered: {', '.join(answered)}"


def _reason(error: Exception) -> str:
    """Why a destination gave no answer, in a word: the exception's kind (a URL may hold a secret)."""
    cause = getattr(error, "reason", None)
    found = cause if isinstance(cause, Exception) else error
    if isinstance(found, DestinationBlocked):
        return "refused by destinations"
    return type(found).__name__
