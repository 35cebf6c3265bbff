"""The aws connector's live check: whom the configured credentials belong to."""

from __future__ import annotations

from connector_proxy.sdk import Context
from connector_proxy_aws.calling import call


def caller_identity(ctx: Context) -> str:
    """Ask STS who the configured credentials are (GetCallerIdentity: read-only, needs no permission).

    A refusal or an unreachable endpoint fails the check with the error every command answers.
    """
    identity = call(ctx, "sts", "get_caller_identity")
    return f"signed in as {identity.get('Arn')} (account {identity.get('Account')})"
