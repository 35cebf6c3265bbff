"""The aws connector's live check: whom the configured credentials belong to."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from connector_proxy.sdk import CheckFailed, Context
from connector_proxy_aws.settings import AwsResources


def caller_identity(ctx: Context) -> str:
    """Ask STS who the configured credentials are (GetCallerIdentity: read-only, needs no permission)."""
    resources: AwsResources = ctx.resources
    try:
        identity = resources.client("sts").get_caller_identity()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        raise CheckFailed(f"STS refused the credentials ({code})") from None
    except BotoCoreError as error:  # no credentials, no endpoint: its kind names it, never a key
        raise CheckFailed(f"STS could not be asked ({type(error).__name__})") from None
    return f"signed in as {identity.get('Arn')} (account {identity.get('Account')})"
