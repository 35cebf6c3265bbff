"""SNS's signed messages: verified before anything in them is believed or any URL in them followed.

SNS signs each message it posts (a ``SubscriptionConfirmation``, a ``Notification``, an
``UnsubscribeConfirmation``) with the key of a certificate it serves at ``SigningCertURL``:
signature version 1 is RSA with SHA-1, version 2 RSA with SHA-256, over the message's
canonical text (``Name\\nvalue\\n`` for a fixed list of fields, in that order). Anyone can post
such JSON, and name any certificate: so the certificate is fetched only over https from an
allowed origin (by default ``https://sns.<the topic's region>.amazonaws.com``), through the
SDK's outbound pool (the destination policy applies), never following a redirect; and a
``SubscribeURL`` is followed only once the signature covering it checks, and only to an allowed
origin too. Certificates are kept per worker by URL, a few at a time. A message whose signed
``Timestamp`` is older than ``sns_max_age_seconds`` (or ahead of our clock) is refused: a captured
one posted again once its event was pruned must not become a new event.

cryptography is imported by the first message verified, not with the connector: most workers
never receive an SNS message, and it would weigh ~6 MiB in each of them.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from urllib3 import BaseHTTPResponse, Timeout

from connector_proxy.sdk import (
    INVALID_SIGNATURE,
    CommandError,
    Context,
    DestinationBlocked,
    ErrorCode,
    OutboundRefusal,
)
from connector_proxy.sdk.outbound import BodyLate, BodyTooLarge, failure_reason, origin_of, read_body
from connector_proxy_aws import errors
from connector_proxy_aws.calling import resources
from connector_proxy_aws.settings import SNS_MAX_AGE_SECONDS

if TYPE_CHECKING:
    from cryptography import x509

CONFIRMATION, UNSUBSCRIBED = "SubscriptionConfirmation", "UnsubscribeConfirmation"
NOTIFICATION = "Notification"
SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    CONFIRMATION: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    UNSUBSCRIBED: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
HASHES = {"1": "SHA1", "2": "SHA256"}  # SignatureVersion: the hash's name in cryptography
MAX_CERTIFICATE_BYTES = 16 * 1024  # an SNS signing certificate is about 2 KiB
KEPT_CERTIFICATES = 8  # SNS rotates its certificate now and then: a few URLs, never an unbounded map
FETCH_SECONDS = 3.0  # each fetch, within the webhook's own deadline (its sender waits)
AHEAD_SECONDS = 300.0  # SNS's clock and ours may differ a little; a message from the future is forged


def unambiguous(message: Mapping[str, Any]) -> None:
    """Refuse a signed field after ``Message`` that holds a line break: the canonical text does not
    escape them, so ``MessageId = "<id>\\nSubject\\n<subject>"`` with no Subject is the same signed
    text as the genuine message, read as a new MessageId (a new event). SNS's ids, subjects,
    timestamps, tokens and URLs never hold one; ``Message`` may, and is first, so nothing moves into it."""
    for name in SIGNED_FIELDS[message["Type"]][1:]:
        value = message.get(name)
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            raise CommandError(
                INVALID_SIGNATURE, f"the message's {name} holds a line break, which SNS never signs"
            )


def canonical(message: Mapping[str, Any]) -> bytes:
    """The text SNS signed: each signed field present, as ``Name\\nvalue\\n``, in SNS's order."""
    fields = SIGNED_FIELDS[message["Type"]]
    text = "".join(f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None)
    return text.encode()


def default_origins(topic: str) -> tuple[str, ...]:
    """SNS's own origin for the topic's region (``arn:<partition>:sns:<region>:<account>:<name>``)."""
    parts = topic.split(":")
    if len(parts) < 6 or not parts[3]:
        return ()
    suffix = ".amazonaws.com.cn" if parts[1] == "aws-cn" else ".amazonaws.com"
    return (f"https://sns.{parts[3]}{suffix}",)


def allowed_origins(ctx: Context, topic: str) -> tuple[str, ...]:
    """The connector's ``sns_origins`` when set, else SNS's own for the topic's region."""
    configured: Sequence[str] = ctx.config.get("sns_origins") or ()
    return tuple(_origin(entry) for entry in configured) or default_origins(topic)


def _origin(url: str) -> str:
    """``scheme://host:port`` with the scheme's port spelled out, for comparing."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme.lower(), 0)
    except ValueError:
        return ""
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def on_allowed_origin(url: str, origins: Sequence[str], what: str) -> None:
    """Refuse a URL whose origin is not allowed, or that carries credentials, before any request."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.username is not None or _origin(url) not in {_origin(o) for o in origins}:
        raise CommandError(
            errors.UNTRUSTED_SNS_URL,
            f"the message's {what} is at {origin_of(url)}, not one of the SNS origins allowed"
            f" ({', '.join(origins) or 'none: the topic is not an SNS ARN'})",
        )


def verify(ctx: Context, message: Mapping[str, Any], topic: str) -> None:
    """Raise unless ``message`` is the topic's and signed by a certificate from an allowed origin."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if message.get("TopicArn") != topic:
        raise CommandError(INVALID_SIGNATURE, "the message is not from the subscription's topic")
    unambiguous(message)
    hash_name = HASHES.get(str(message.get("SignatureVersion")))
    if hash_name is None:
        raise CommandError(INVALID_SIGNATURE, "SignatureVersion is neither 1 nor 2")
    try:
        signature = base64.b64decode(str(message.get("Signature") or ""), validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if not signature:
        raise CommandError(INVALID_SIGNATURE, "the message carries no readable Signature")
    origins = allowed_origins(ctx, topic)
    certificate = signing_certificate(ctx, str(message.get("SigningCertURL") or ""), origins)
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CommandError(errors.UNTRUSTED_SNS_URL, "the signing certificate's key is not RSA")
    algorithm: type[hashes.HashAlgorithm] = getattr(hashes, hash_name)
    try:
        key.verify(signature, canonical(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise CommandError(INVALID_SIGNATURE, "the Signature does not match the message") from None
    recent(ctx, message, time.time())


def recent(ctx: Context, message: Mapping[str, Any], now: float) -> None:
    """Refuse a message whose signed Timestamp is out of the window. An event is stored once by its
    MessageId only while its record is kept (``events.keep_delivered``): a captured notification
    posted again after that would be a new event, unless its age refuses it first."""
    # the daemon fills in the schema's default; a config built by hand may lack it
    limit = float(ctx.config.get("sns_max_age_seconds") or SNS_MAX_AGE_SECONDS)
    try:
        stamped = datetime.fromisoformat(str(message.get("Timestamp")))
    except ValueError:
        stamped = None
    if stamped is None or stamped.tzinfo is None:
        raise CommandError(errors.STALE_SNS_MESSAGE, "the message's Timestamp is not a time with its zone")
    age = now - stamped.timestamp()
    if age > limit:
        raise CommandError(
            errors.STALE_SNS_MESSAGE,
            f"the message was signed {age:.0f} s ago, over sns_max_age_seconds ({limit:g}): a replay",
        )
    if age < -AHEAD_SECONDS:
        raise CommandError(
            errors.STALE_SNS_MESSAGE, f"the message's Timestamp is {-age:.0f} s ahead of this daemon's clock"
        )


def signing_certificate(ctx: Context, url: str, origins: Sequence[str]) -> x509.Certificate:
    """The certificate at ``url``, fetched once per worker, only from an allowed https origin."""
    from cryptography import x509

    on_allowed_origin(url, origins, "SigningCertURL")
    kept: dict[str, x509.Certificate] = resources(ctx).certificates
    certificate = kept.get(url)
    if certificate is None:
        pem = fetch(ctx, url, MAX_CERTIFICATE_BYTES, errors.SNS_CERTIFICATE_UNAVAILABLE, "SigningCertURL")
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise CommandError(errors.UNTRUSTED_SNS_URL, "SigningCertURL holds no PEM certificate") from None
        while len(kept) >= KEPT_CERTIFICATES:
            kept.pop(next(iter(kept)))
        kept[url] = certificate
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        kept.pop(url, None)
        raise CommandError(errors.UNTRUSTED_SNS_URL, "the signing certificate is expired or not yet valid")
    return certificate


def confirm(ctx: Context, message: Mapping[str, Any], topic: str) -> None:
    """Follow a verified confirmation's SubscribeURL (a GET), on an allowed origin, once."""
    url = str(message.get("SubscribeURL") or "")
    on_allowed_origin(url, allowed_origins(ctx, topic), "SubscribeURL")
    fetch(ctx, url, MAX_CERTIFICATE_BYTES * 4, errors.SNS_CONFIRMATION_FAILED, "SubscribeURL")


def fetch(ctx: Context, url: str, limit: int, code: ErrorCode, what: str) -> bytes:
    """GET through the connector's guarded pool: no redirect followed, no retry, a short deadline.

    ``code`` is for a failure that may pass (no answer, a timeout, a 5xx): SNS, answered 502, sends
    the message again. A certificate refused by where it is (a redirect, a 4xx, the destination
    policy, a body too large) is :data:`errors.UNTRUSTED_SNS_URL` whatever ``code`` says, except
    for a SubscribeURL, whose every failure is ``code``."""
    refused = errors.UNTRUSTED_SNS_URL if code is errors.SNS_CERTIFICATE_UNAVAILABLE else code
    seconds = min(FETCH_SECONDS, ctx.seconds_left())
    if seconds <= 0:
        raise CommandError(code, f"no time left to fetch the {what}")
    deadline = time.monotonic() + seconds
    response: BaseHTTPResponse | None = None
    try:
        response = resources(ctx).pool.urlopen(
            "GET",
            url,
            redirect=False,
            retries=False,
            timeout=Timeout(connect=seconds, read=seconds),
            pool_timeout=seconds,
            preload_content=False,
        )
        if response.status != 200:
            moved = " (a redirect, never followed)" if 300 <= response.status < 400 else ""
            said = f"the {what} at {origin_of(url)} answered {response.status}{moved}"
            raise CommandError(code if response.status >= 500 else refused, said)
        return read_body(response, deadline, limit)
    except CommandError:
        raise
    except (DestinationBlocked, BodyTooLarge) as error:  # where it is, or what it holds: not a hiccup
        raise CommandError(refused, f"the {what} at {origin_of(url)} is refused: {error}") from None
    except Exception as error:  # no connection, a timeout, a slow body, an origin busy in this worker
        reason = str(error) if isinstance(error, OutboundRefusal | BodyLate) else failure_reason(error)
        raise CommandError(code, f"the {what} at {origin_of(url)} could not be fetched: {reason}") from None
    finally:
        if response is not None:  # a body not read to its end closes its connection first
            if not response.closed:
                response.close()
            response.release_conn()
