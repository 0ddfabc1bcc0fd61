"""Unit tests of the webhook helpers against deliveries signed by the router's own code
(clients/testdata/webhook-vectors.json)."""

import base64
import json
from pathlib import Path

import pytest

from message_router_client.webhooks import (
    WebhookVerificationError,
    hub_signature,
    standard_webhooks_key,
    standard_webhooks_signature,
    verify_hub_signature,
    verify_standard_webhook,
    verify_webhook,
)

VECTORS = json.loads((Path(__file__).parents[2] / "testdata" / "webhook-vectors.json").read_text())["vectors"]


def test_the_vector_file_has_the_spec_example_and_real_rotated_deliveries():
    assert len(VECTORS) >= 2
    assert any(v["previous"] for v in VECTORS)


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_standard_webhooks_verifies_with_every_active_secret(v):
    h, body, now = v["headers"], v["body"], v["now"]
    assert verify_standard_webhook(v["current"], h, body, now=now)
    if v["previous"]:
        assert verify_standard_webhook(v["previous"], h, body, now=now)
    other = "whsec_" + base64.b64encode(bytes([7] * 24)).decode()
    assert verify_standard_webhook([other, v["current"]], h, body.encode(), now=now)
    upper = {k.title(): val for k, val in h.items()}  # header names are case-insensitive
    assert verify_webhook(v["current"], upper, body.encode(), now=now) == json.loads(body)


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_our_signatures_are_the_routers(v):
    h, body = v["headers"], v["body"]
    sigs = h["webhook-signature"].split(" ")
    assert sigs[0] == standard_webhooks_signature(v["current"], h["webhook-id"], h["webhook-timestamp"], body)
    if v["previous"]:
        assert sigs[1] == standard_webhooks_signature(v["previous"], h["webhook-id"], h["webhook-timestamp"], body)
        assert h["x-hub-signature-256"] == hub_signature(v["previous"], body)
        assert h["x-hub-signature-256-next"] == hub_signature(v["current"], body)
    else:
        assert h["x-hub-signature-256"] == hub_signature(v["current"], body)


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_hub_signature_verifies_and_next_with_the_new_secret(v):
    h, body = v["headers"], v["body"]
    hub_secret = v["previous"] or v["current"]
    assert verify_hub_signature(hub_secret, body, h["x-hub-signature-256"])
    assert verify_hub_signature(hub_secret, body, "sha256=" + h["x-hub-signature-256"][7:].upper())
    if v["previous"]:
        assert verify_hub_signature(v["current"], body, h["x-hub-signature-256-next"])
    assert not verify_hub_signature(hub_secret, body + " ", h["x-hub-signature-256"])
    assert not verify_hub_signature("whsec_someone_elses_secret", body, h["x-hub-signature-256"])
    assert not verify_hub_signature(hub_secret, body, h["x-hub-signature-256"].replace("sha256=", "sha1="))
    assert not verify_hub_signature(hub_secret, body, None)


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_tampering_wrong_secrets_stale_timestamps_and_missing_headers_are_refused(v):
    h, body, now, cur = v["headers"], v["body"], v["now"], v["current"]
    assert not verify_standard_webhook(cur, h, body + " ", now=now)
    assert not verify_standard_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", h, body, now=now)
    assert not verify_standard_webhook(cur, {**h, "webhook-id": h["webhook-id"] + "x"}, body, now=now)
    assert not verify_standard_webhook(cur, h, body, now=now + 301)
    assert not verify_standard_webhook(cur, h, body, now=now - 301)
    assert verify_standard_webhook(cur, h, body, now=now + 301, tolerance_seconds=400)
    assert not verify_standard_webhook(cur, {k: x for k, x in h.items() if k != "webhook-signature"}, body, now=now)
    assert not verify_standard_webhook(
        cur, {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}, body, now=now
    )
    with pytest.raises(WebhookVerificationError):
        verify_webhook(cur, h, body + " ", now=now)


def test_whsec_keys_are_decoded_only_when_the_rest_is_canonical_base64():
    assert standard_webhooks_key("whsec_AAEC") == b"\x00\x01\x02"
    assert standard_webhooks_key("whsec_not base64!") == b"whsec_not base64!"
    assert standard_webhooks_key("whsec_AAE") == b"whsec_AAE"
    assert standard_webhooks_key("plain-secret-1234") == b"plain-secret-1234"
