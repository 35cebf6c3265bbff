"""SQS, SNS and Lambda: send a message, publish a notification, invoke a function."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from connector_proxy.sdk import CommandError, CommandGroup, Context, Result
from connector_proxy_aws import errors
from connector_proxy_aws.answers import INVOKED, Published, Sent
from connector_proxy_aws.calling import allowed, call, resources

commands = CommandGroup()


@commands.command("SendMessage")
def send_message(
    ctx: Context,
    queue: str,
    message: Any,
    attributes: dict[str, str | int | float] | None = None,
    message_group_id: str | None = None,
    deduplication_id: str | None = None,
    delay_seconds: Annotated[int, {"minimum": 0, "maximum": 900}] = 0,
) -> Sent:
    """Send a message to an SQS queue.

    Args:
        queue: The queue's name or URL.
        message: The body: text as is, anything else as JSON.
        attributes: Message attributes (text or numbers).
        message_group_id: For FIFO queues: the ordering group.
        deduplication_id: For FIFO queues without content-based deduplication.
        delay_seconds: Seconds before the message can be received.
    """
    name = queue.rstrip("/").rsplit("/", 1)[-1]
    allowed(ctx, "queues", name)
    url = queue if "://" in queue else call(ctx, "sqs", "get_queue_url", QueueName=queue)["QueueUrl"]
    arguments: dict[str, Any] = {
        "QueueUrl": url,
        "MessageBody": _text(message),
        "DelaySeconds": delay_seconds,
    }
    if attributes:
        arguments["MessageAttributes"] = _attributes(attributes)
    if message_group_id:
        arguments["MessageGroupId"] = message_group_id
    if deduplication_id:
        arguments["MessageDeduplicationId"] = deduplication_id
    answer = call(ctx, "sqs", "send_message", **arguments)
    return {"message_id": answer["MessageId"], "sequence_number": answer.get("SequenceNumber")}


@commands.command("Publish")
def publish(
    ctx: Context,
    topic_arn: str,
    message: Any,
    subject: str | None = None,
    attributes: dict[str, str | int | float] | None = None,
    message_group_id: str | None = None,
    deduplication_id: str | None = None,
) -> Published:
    """Publish a notification to an SNS topic.

    Args:
        topic_arn: The topic's ARN.
        message: The message: text as is, anything else as JSON.
        subject: The subject, for e-mail subscribers.
        attributes: Message attributes (text or numbers).
        message_group_id: For FIFO topics: the ordering group.
        deduplication_id: For FIFO topics without content-based deduplication.
    """
    allowed(ctx, "topics", topic_arn.rsplit(":", 1)[-1])
    arguments: dict[str, Any] = {"TopicArn": topic_arn, "Message": _text(message)}
    for key, value in (
        ("Subject", subject),
        ("MessageGroupId", message_group_id),
        ("MessageDeduplicationId", deduplication_id),
    ):
        if value:
            arguments[key] = value
    if attributes:
        arguments["MessageAttributes"] = _attributes(attributes)
    return {"message_id": call(ctx, "sns", "publish", **arguments)["MessageId"]}


@commands.command("InvokeFunction", output=INVOKED)
def invoke_function(
    ctx: Context,
    function_name: str,
    payload: Any = None,
    invocation_type: Literal["RequestResponse", "Event"] = "RequestResponse",
) -> Result:
    """Invoke a Lambda function and answer what it returned (or, as an event, that it was queued).

    Args:
        function_name: The function's name or ARN.
        payload: The event given to the function (any JSON).
        invocation_type: RequestResponse (wait for the result) or Event (queue it, answer 202).
    """
    allowed(ctx, "functions", function_name.rsplit(":", 1)[-1])
    answer = call(
        ctx,
        "lambda",
        "invoke",
        FunctionName=function_name,
        InvocationType=invocation_type,
        Payload=json.dumps(payload).encode(),
    )
    status = int(answer.get("StatusCode", 200))
    if invocation_type == "Event":
        return Result({"queued": True}, http_status=status)
    stream = answer["Payload"]
    limit = resources(ctx).max_object_bytes
    try:
        raw = stream.read(limit + 1)
    finally:
        stream.close()
    if len(raw) > limit:
        raise CommandError(errors.OBJECT_TOO_LARGE, f"{function_name} returned over {limit} bytes")
    body = _decoded(raw)
    if answer.get("FunctionError"):
        raise CommandError(
            errors.LAMBDA_FUNCTION_ERROR, f"{function_name} failed ({answer['FunctionError']})", body=body
        )
    return Result(body, http_status=status)


def _text(message: Any) -> str:
    return message if isinstance(message, str) else json.dumps(message)


def _attributes(attributes: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: {"DataType": "String", "StringValue": value}
        if isinstance(value, str)
        else {"DataType": "Number", "StringValue": str(value)}
        for name, value in attributes.items()
    }


def _decoded(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"raw_response": raw.decode(errors="replace")}
