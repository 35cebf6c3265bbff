"""The aws connector: S3, DynamoDB, SQS, SNS and Lambda from BPMN service tasks, through boto3.

Registered through the ``connector_proxy.connectors`` entry point as ``aws``;
configured in ``[connectors.aws.config]`` (see CONFIG_SCHEMA and the README).
The module is not named ``connector_aws``, which is SpiffWorkflow's own.
"""

from connector_proxy.sdk import Connector
from connector_proxy_aws import (
    check,
    dynamodb,
    errors,
    messaging,
    notifications,
    s3,
    settings,
    suggest,
    triggers,
)

connector = Connector(
    name="aws",
    description="S3 objects, DynamoDB items, SQS messages, SNS notifications and Lambda invocations;"
    " S3 objects created, SQS messages received and SNS notifications as events.",
    config_schema=settings.CONFIG_SCHEMA,
    errors=errors.ALL,
    setup=settings.setup,
    groups=[
        s3.commands,
        dynamodb.commands,
        messaging.commands,
        suggest.commands,
        triggers.triggers,
        notifications.notifications,
    ],
)
connector.check(check.caller_identity)

__all__ = ["connector"]
