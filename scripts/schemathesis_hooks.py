"""Schemathesis hooks for scripts/schemathesis.sh: sign generated Meta webhook bodies.

`POST /webhooks/instagram` answers 401 to anything Meta did not sign (X-Hub-Signature-256, an
HMAC-SHA256 of the exact body bytes with the app secret). Schemathesis serialises the body after
the hooks run, so this hook serialises it itself, sends those bytes and signs them with
IG_APP_SECRET, as Meta would. A case that leaves the header out stays unsigned; other cases meant
to be refused keep their signature, so the API must refuse them for what they contain.
"""

import hashlib
import hmac
import json
import os

import schemathesis


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if case.operation.method.upper() != "POST" or case.operation.path != "/webhooks/instagram":
        return
    if not isinstance(case.body, (dict, list, str, int, float, bool, bytes, bytearray, type(None))):
        return  # no body at all (Schemathesis' NotSet): nothing to sign
    if case.body is None or isinstance(case.body, (bytes, bytearray)):
        raw = bytes(case.body or b"")
    else:
        raw = json.dumps(case.body).encode()
    headers = dict(case.headers or {})
    if "X-Hub-Signature-256" not in headers:
        return  # a case that leaves the signature out on purpose: the API must refuse it
    secret = os.environ["IG_APP_SECRET"].encode()
    kwargs["json"] = None
    kwargs["data"] = raw
    headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
    case.headers = headers
