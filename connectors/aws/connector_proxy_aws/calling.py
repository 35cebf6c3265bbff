"""One way to call AWS: the allowlist first, then boto3, with its errors turned into envelopes.

Messages name the operation and the resource; never a credential, a key's
value or an item.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from connector_proxy.sdk import CommandError, Context
from connector_proxy_aws import errors
from connector_proxy_aws.settings import AwsResources


def resources(ctx: Context) -> AwsResources:
    found: AwsResources = ctx.resources
    return found


def allowed(ctx: Context, kind: str, name: str) -> None:
    """Refuse a resource that is not on a configured allowlist of its kind."""
    allowlist = resources(ctx).allow.get(kind)
    if allowlist is not None and name not in allowlist:
        raise CommandError(errors.RESOURCE_NOT_ALLOWED, f"{kind[:-1]} {name!r} is not on allow.{kind}")


def call(ctx: Context, service: str, operation: str, **arguments: Any) -> dict[str, Any]:
    """``client.<operation>(**arguments)``, answering AWS's own error code and status on failure."""
    client = resources(ctx).client(service)
    try:
        answer: dict[str, Any] = getattr(client, operation)(**arguments)
    except ClientError as error:
        raise aws_error(error, f"{service}.{operation}{_on(arguments)}") from None
    except ParamValidationError as error:
        raise invalid_parameter(error, f"{service}.{operation}") from None
    except (NoCredentialsError, PartialCredentialsError):
        raise CommandError(errors.CREDENTIALS_MISSING, f"{service}.{operation}: no AWS credentials") from None
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as error:
        raise CommandError(errors.AWS_UNREACHABLE, f"{service}.{operation}: {type(error).__name__}") from None
    answer.pop("ResponseMetadata", None)
    return answer


def invalid_parameter(error: ParamValidationError, where: str) -> CommandError:
    """boto3's report quotes values (an item's, a key's): only the parameters' names are kept."""
    report = str(error)
    names = sorted(set(_PARAMETER.findall(report)) | ({"Bucket"} if "bucket name" in report else set()))
    names = names or ["a parameter"]
    return CommandError(errors.INVALID_AWS_PARAMETER, f"{where}: boto3 refused {', '.join(names)}")


_PARAMETER = re.compile(r"parameter ([\w.\[\]]+)")


def aws_error(error: ClientError, where: str) -> CommandError:
    details = error.response.get("Error", {})
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
    code = str(details.get("Code") or "AwsError")
    message = str(details.get("Message") or code)
    return CommandError(errors.AWS_ERROR, f"{where}: {message}", http_status=status, concrete=code)


def _on(arguments: dict[str, Any]) -> str:
    """The resource a call was about, for messages: names only, never keys' or items' values."""
    for name in ("Bucket", "TableName", "QueueUrl", "QueueName", "TopicArn", "FunctionName"):
        if name in arguments:
            return f" on {str(arguments[name]).rstrip('/').rsplit('/', 1)[-1]}"
    return ""
