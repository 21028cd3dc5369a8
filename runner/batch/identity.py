"""A batch is named by what it would send: the contacts file's bytes and the resolved profile.

Edit the file or the profile (or change an override) and it is a new batch; run the same
command again and it is the same batch, which resumes. Guardrails (window, do-not-call list,
rate, ``--max-calls``) are not part of the name: changing them must not restart a batch.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from runner.flow.compose import Composed


def batch_id(
    composed: Composed, contacts_sha256: str, *, to_column: str, region: str | None
) -> str:
    document = composed.document
    identity: dict[str, Any] = {
        "contacts": contacts_sha256,
        "profile": composed.profile,
        "document": document,
        "vars": {k: v.value for k, v in sorted(composed.given.items())},
        "to_column": to_column,
        "region": region,
        # The overrides' connection id is in the document; a default from the environment
        # names the batch only when nothing else sets one.
        "default_connection_id": os.environ.get("TELNYX_CONNECTION_ID")
        if document.get("connection_id") is None
        else None,
    }
    text = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
