"""The error codes the aws connector answers with (listed in its README)."""

from connector_proxy.sdk import ErrorCode

AWS_ERROR = ErrorCode(
    "<AwsErrorCode>",
    "AWS refused the call: the code is AWS's own (NoSuchBucket, ResourceNotFoundException,"
    " ConditionalCheckFailedException, ThrottlingException…), http_status the status AWS answered.",
    status=None,
)
CREDENTIALS_MISSING = ErrorCode(
    "AwsCredentialsMissing",
    "No AWS credentials were found (configuration, references or boto3's chain).",
    401,
)
RESOURCE_NOT_ALLOWED = ErrorCode(
    "AwsResourceNotAllowed",
    "The bucket, table, queue, topic or function is not on the connector's allowlist.",
    403,
)
OBJECT_TOO_LARGE = ErrorCode(
    "ObjectTooLarge", "The object (to upload or download) is over max_object_bytes.", 413
)
INVALID_CONTENT = ErrorCode(
    "InvalidContent", "The content is not what its encoding says (bad base64 or data: URL).", 400
)
INVALID_AWS_PARAMETER = ErrorCode(
    "InvalidAwsParameter",
    "boto3 refused a value before sending it (an empty or malformed bucket name, a key of the wrong"
    " type…); the message names the parameter, never its value.",
    400,
)
AWS_UNREACHABLE = ErrorCode(
    "AwsUnreachable", "The AWS endpoint could not be reached or did not answer in time.", 502
)
LAMBDA_FUNCTION_ERROR = ErrorCode(
    "LambdaFunctionError", "The Lambda function ran and failed; the body holds what it returned.", 502
)
UNTRUSTED_SNS_URL = ErrorCode(
    "UntrustedSnsUrl",
    "An SNS message's SigningCertURL or SubscribeURL is not on an allowed SNS origin (https://sns.<region>"
    ".amazonaws.com, or sns_origins), or its certificate is refused there (a redirect, a 4xx, the"
    " destination policy, not a PEM certificate, expired): the message is refused, no URL in it followed.",
    401,
)
STALE_SNS_MESSAGE = ErrorCode(
    "StaleSnsMessage",
    "An SNS message's signed Timestamp is older than sns_max_age_seconds, more than 5 minutes ahead,"
    " or unreadable: a captured message posted again once its event was pruned is refused.",
    401,
)
SNS_CERTIFICATE_UNAVAILABLE = ErrorCode(
    "SnsCertificateUnavailable",
    "An SNS message's signing certificate, on an allowed origin, could not be fetched now (no answer,"
    " a timeout, a 5xx): SNS is answered 502 and delivers the message again.",
    502,
)
SNS_CONFIRMATION_FAILED = ErrorCode(
    "SnsConfirmationFailed",
    "A verified SubscriptionConfirmation's SubscribeURL could not be followed (no answer, an error, a"
    " redirect): SNS is answered 502 and sends the confirmation again.",
    502,
)

ALL = (
    AWS_ERROR,
    CREDENTIALS_MISSING,
    RESOURCE_NOT_ALLOWED,
    OBJECT_TOO_LARGE,
    INVALID_CONTENT,
    INVALID_AWS_PARAMETER,
    AWS_UNREACHABLE,
    LAMBDA_FUNCTION_ERROR,
    UNTRUSTED_SNS_URL,
    STALE_SNS_MESSAGE,
    SNS_CERTIFICATE_UNAVAILABLE,
    SNS_CONFIRMATION_FAILED,
)
