"""Schemathesis hooks: sign every /webhook request the way a real sender does.

X-Signature is the hex HMAC-SHA256 of the exact body bytes, keyed with WEBHOOK_SECRET.
The body is serialized here, once, and those same bytes are both signed and sent.
"""

import hashlib
import hmac
import json
import os

import schemathesis

SECRET = os.environ["WEBHOOK_SECRET"].encode()


def body_bytes(case) -> bytes:
    """The bytes schemathesis would send for this case."""
    serialized = case.as_transport_kwargs()
    if "data" in serialized:
        body = serialized["data"]
    elif "json" in serialized:
        body = json.dumps(serialized["json"])
    else:
        body = b""
    if body is None:
        return b""
    return body.encode() if isinstance(body, str) else bytes(body)


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/webhook":
        return
    body = body_bytes(case)
    kwargs["data"] = body
    headers = dict(case.headers or {})
    headers["X-Signature"] = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    case.headers = headers
