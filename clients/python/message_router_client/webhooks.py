"""Verification of the webhooks the router sends to a CRM (hand-written; kept by gen-clients.sh).

Both schemes the router signs with are supported (docs/CRM_INTEGRATION.md, "Verifying signatures"):

- ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret as UTF-8, raw body)>`` (and, during a secret
  rotation, ``X-Hub-Signature-256-Next`` with the new secret);
- Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64> ...`` over
  ``"{id}.{timestamp}.{body}"``, keyed by the base64-decoded part of a ``whsec_`` secret.

Always verify the raw body bytes exactly as received, before parsing them::

    from message_router_client.webhooks import verify_webhook, WebhookVerificationError

    try:
        event = verify_webhook(SECRETS, request.headers, request.get_data())
    except WebhookVerificationError:
        abort(401)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_TOLERANCE_SECONDS = 300

_TIMESTAMP = re.compile(r"\d{1,15}")


class WebhookVerificationError(Exception):
    """Raised by :func:`verify_webhook` when a delivery does not verify."""


def _bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _secrets(secrets: str | Sequence[str]) -> Sequence[str]:
    return [secrets] if isinstance(secrets, str) else secrets


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        for key, v in headers.items():
            if key.lower() == name:
                return v
    return value


def standard_webhooks_key(secret: str) -> bytes:
    """The Standard Webhooks key of a secret, derived as the router does: the base64-decoded rest of
    a ``whsec_`` secret when it is valid (canonical, padded) base64, else the UTF-8 bytes of the
    whole secret."""
    if secret.startswith("whsec_"):
        rest = secret[len("whsec_") :]
        try:
            key = base64.b64decode(rest, validate=True)
        except (binascii.Error, ValueError):
            pass
        else:
            if base64.b64encode(key).decode("ascii") == rest:
                return key
    return secret.encode("utf-8")


def hub_signature(secret: str, body: bytes | str) -> str:
    """``sha256=<hex>``: the ``X-Hub-Signature-256`` value the router sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), _bytes(body), hashlib.sha256).hexdigest()


def standard_webhooks_signature(secret: str, webhook_id: str, timestamp: int | str, body: bytes | str) -> str:
    """``v1,<base64>``: one Standard Webhooks signature."""
    signed = f"{webhook_id}.{timestamp}.".encode() + _bytes(body)
    digest = hmac.new(standard_webhooks_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_hub_signature(secrets: str | Sequence[str], body: bytes | str, header: str | None) -> bool:
    """Checks an ``X-Hub-Signature-256`` (or ``-Next``) value against one or more secrets, in
    constant time. This scheme has no timestamp: prefer Standard Webhooks."""
    if not header or not header.startswith("sha256="):
        return False
    given = "sha256=" + header[len("sha256=") :].lower()
    ok = False
    for secret in _secrets(secrets):
        ok = hmac.compare_digest(given, hub_signature(secret, body)) or ok
    return ok


def verify_standard_webhook(
    secrets: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Accepts when any space-separated ``v1`` signature of ``webhook-signature`` matches any of
    ``secrets`` (several during a rotation) and ``webhook-timestamp`` is within the tolerance."""
    msg_id = _header(headers, "webhook-id")
    ts = _header(headers, "webhook-timestamp")
    sig_header = _header(headers, "webhook-signature")
    if not msg_id or not ts or not sig_header or not _TIMESTAMP.fullmatch(ts):
        return False
    current = time.time() if now is None else now
    if abs(current - int(ts)) > tolerance_seconds:
        return False
    given = [part[len("v1,") :] for part in sig_header.split(" ") if part.startswith("v1,")]
    ok = False
    for secret in _secrets(secrets):
        expected = standard_webhooks_signature(secret, msg_id, ts, body)[len("v1,") :]
        for sig in given:
            ok = hmac.compare_digest(sig.encode(), expected.encode()) or ok
    return ok


def verify_webhook(
    secrets: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> Any:
    """Verifies a delivery with Standard Webhooks (which includes replay protection) and returns
    the parsed event; raises :class:`WebhookVerificationError` otherwise."""
    if not verify_standard_webhook(secrets, headers, body, tolerance_seconds=tolerance_seconds, now=now):
        raise WebhookVerificationError("webhook signature or timestamp does not verify")
    return json.loads(_bytes(body))
