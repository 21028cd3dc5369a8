"""Diagnostic codes of the outcomes package (the range CP700-CP749): code -> one-line meaning.

Receiver rejections carry one of these in the log, so a refused callback can be traced to its
cause without the body (which is never recorded for a refused request).
"""

from __future__ import annotations

# Starting the receiver
BAD_PUBLIC_KEY = "CP700"
NO_PUBLIC_KEY = "CP701"
NO_VERIFY_REMOTE = "CP702"
VERIFY_OFF = "CP703"
# Signature checks (HTTP 403)
NO_SIGNATURE = "CP710"
NO_TIMESTAMP = "CP711"
BAD_TIMESTAMP = "CP712"
STALE_TIMESTAMP = "CP713"
MALFORMED_SIGNATURE = "CP714"
BAD_SIGNATURE = "CP715"
UNSIGNED_QUERY = "CP716"
# Requests the receiver cannot take (HTTP 4xx)
BAD_REQUEST = "CP720"
TOO_LARGE = "CP721"
NO_LENGTH = "CP722"
BAD_METHOD = "CP723"
BAD_ENCODING = "CP724"
BAD_FORM = "CP725"
BAD_JSON = "CP726"
NO_CALL_SID = "CP727"
BAD_FIELD = "CP728"
# Recording (HTTP 503: the sender should try again)
LEDGER_WRITE = "CP730"
# Reconciling unknown rows
NO_ACCOUNT_SID = "CP740"
LOOKUP_FAILED = "CP741"
SEVERAL_CALLS = "CP742"
LOOKUP_TOO_RECENT = "CP743"

MEANINGS: dict[str, str] = {
    BAD_PUBLIC_KEY: "the public key is not a base64 Ed25519 key (32 bytes)",
    NO_PUBLIC_KEY: "no public key to verify callbacks with; refusing to start",
    NO_VERIFY_REMOTE: "--no-verify is only accepted on a loopback host",
    VERIFY_OFF: "signature verification is off (--no-verify)",
    NO_SIGNATURE: "callback without a telnyx-signature-ed25519 header",
    NO_TIMESTAMP: "callback without a telnyx-timestamp header",
    BAD_TIMESTAMP: "telnyx-timestamp is not a Unix time in seconds",
    STALE_TIMESTAMP: "telnyx-timestamp outside the tolerance (a replay, or a skewed clock)",
    MALFORMED_SIGNATURE: "the signature is not base64 of 64 bytes",
    BAD_SIGNATURE: "the signature does not match the body (forged, altered, or another key)",
    UNSIGNED_QUERY: "a GET callback: its query string is not covered by the signature",
    BAD_REQUEST: "not a well-formed HTTP request",
    TOO_LARGE: "the body is larger than the receiver accepts",
    NO_LENGTH: "a body without Content-Length (chunked bodies are not accepted)",
    BAD_METHOD: "a method other than POST",
    BAD_ENCODING: "the body is not UTF-8",
    BAD_FORM: "the form body cannot be read",
    BAD_JSON: "the JSON body cannot be read or has an unexpected shape",
    NO_CALL_SID: "the callback names no call (CallSid / call_control_id)",
    BAD_FIELD: "a field has a value the receiver cannot use",
    LEDGER_WRITE: "the callback could not be written to the ledger (the sender retries)",
    NO_ACCOUNT_SID: "no Telnyx account sid to look calls up with",
    LOOKUP_FAILED: "Telnyx's call list could not be read",
    SEVERAL_CALLS: "more than one call matches an unknown row; it is never redialled",
    LOOKUP_TOO_RECENT: "no call found yet, but the claim is inside the safety margin",
}
