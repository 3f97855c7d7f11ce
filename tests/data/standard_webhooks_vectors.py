#!/usr/bin/env python3
"""Writes tests/data/standard_webhooks_vectors.json: Standard Webhooks signatures made by
the specification's own Python library, an implementation independent of ours. Run once
by hand; the Rust tests read the JSON it wrote:

    python3 -m venv /tmp/sw && /tmp/sw/bin/pip install standardwebhooks==1.3.0
    /tmp/sw/bin/python tests/data/standard_webhooks_vectors.py > tests/data/standard_webhooks_vectors.json
"""
import json
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook

CASES = [
    ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
     '{"test": 2432232314}'),
    ("whsec_dGVzdC1zZWNyZXQta2V5LWZvci12ZWN0b3Jz", "msg_2kDd0pVQeGCaB8Zj3b3x1aHGlqT", 1736935200,
     '{"message_id":"m1","from":"+919876543210","to":"+14155550100",'
     '"ts":"2025-01-15T10:00:00Z","text":"Hello"}'),
    ("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "id.with.dots", 1700000000,
     '{"message_id":"m2","from":"+1","to":"+2","ts":"2025-01-15T10:00:00.5Z",'
     '"text":"caf\\u00e9 \u2603"}'),
    ("whsec_c2hvcnQ", "1", 0, ""),
]

vectors = []
for secret, msg_id, timestamp, body in CASES:
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    signature = Webhook(secret).sign(msg_id, when, body)
    vectors.append({"secret": secret, "id": msg_id, "timestamp": timestamp,
                    "body": body, "signature": signature})
print(json.dumps({"library": "standardwebhooks 1.3.0 (PyPI)", "vectors": vectors}, indent=2,
                 ensure_ascii=False))
