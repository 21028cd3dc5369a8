"""Telnyx webhook signatures: Ed25519 over ``f"{telnyx-timestamp}|{raw body}"``.

The signature covers the raw bytes as they arrived, so it is checked before anything parses the
body: a form body decoded and encoded again would no longer match (the mistake behind most failed
TeXML verifications). The crypto is ``cryptography``'s (keys, signing) and libsodium's through
PyNaCl (the check itself); nothing here is hand-rolled.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner import codes

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE = 300  # seconds either side of now: the usual window against replays
_MAX_TIMESTAMP_DIGITS = 12  # Unix seconds stay under 12 digits for the next 30,000 years
_PEM_HEAD = "-----BEGIN PUBLIC KEY-----"


class PublicKeyError(ValueError):
    """The text given as the public key is not one."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    code: str = ""
    reason: str = ""


ACCEPTED = Verdict(True)


def _b64(text: str) -> bytes:
    """Standard or URL-safe base64, padding optional; raises ValueError."""
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    alphabet = compact.replace("-", "+").replace("_", "/")
    return base64.b64decode(alphabet, validate=True)


def load_public_key(text: str) -> Any:
    """An ``Ed25519PublicKey`` from the base64 text the Telnyx portal shows (32 raw bytes), or
    from a PEM ``PUBLIC KEY`` block. Raises :class:`PublicKeyError` with a reason."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    stripped = text.strip()
    if not stripped:
        raise PublicKeyError("the public key is empty")
    if stripped.startswith(_PEM_HEAD):
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            key = load_pem_public_key(stripped.encode("ascii", "replace"))
        except ValueError:
            raise PublicKeyError("the PEM block is not a readable public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise PublicKeyError("the PEM block holds a public key that is not Ed25519")
        return key
    try:
        raw = _b64(stripped)
    except (binascii.Error, ValueError):
        raise PublicKeyError(
            "the public key is not base64 text (copy it from Mission Control, "
            "Keys & Credentials, Public Key)"
        ) from None
    if len(raw) != 32:
        raise PublicKeyError(
            f"the public key decodes to {len(raw)} bytes; an Ed25519 public key is 32 bytes"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_text(key: Any) -> str:
    """The base64 text of a public key, as the portal shows it."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def sign(private_key: Any, timestamp: str, body: bytes) -> str:
    """The ``telnyx-signature-ed25519`` value for ``body`` sent at ``timestamp`` (what Telnyx,
    or a sandbox playing Telnyx, puts on a callback)."""
    return base64.b64encode(private_key.sign(timestamp.encode("ascii") + b"|" + body)).decode()


class Verifier:
    """Checks callbacks against one public key. ``now`` is the clock (Unix seconds)."""

    def __init__(
        self,
        public_key: Any,
        *,
        tolerance: float = TOLERANCE,
        now: Callable[[], float] = time.time,
    ):
        self.key = public_key
        self.tolerance = tolerance
        self.now = now
        self._verify = _verifier(public_key)

    def check(self, body: bytes, signature: str | None, timestamp: str | None) -> Verdict:
        """Whether ``body`` with these two header values is a genuine, fresh callback."""
        if signature is None or not signature.strip():
            return Verdict(False, codes.NO_SIGNATURE, f"no {SIGNATURE_HEADER} header")
        if timestamp is None or not timestamp.strip():
            return Verdict(False, codes.NO_TIMESTAMP, f"no {TIMESTAMP_HEADER} header")
        stamp = timestamp.strip()
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > _MAX_TIMESTAMP_DIGITS:
            return Verdict(
                False, codes.BAD_TIMESTAMP, f"{TIMESTAMP_HEADER} is not a Unix time in seconds"
            )
        skew = self.now() - int(stamp)
        if abs(skew) > self.tolerance:
            direction = "old" if skew > 0 else "in the future"
            return Verdict(
                False,
                codes.STALE_TIMESTAMP,
                f"{TIMESTAMP_HEADER} is {abs(skew):.0f} s {direction}, outside the "
                f"{self.tolerance:g} s tolerance (a replay, or a clock that is off)",
            )
        try:
            raw = _b64(signature)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 64:
            return Verdict(
                False, codes.MALFORMED_SIGNATURE, f"{SIGNATURE_HEADER} is not base64 of 64 bytes"
            )
        if not self._verify(raw, stamp.encode("ascii") + b"|" + body):
            return Verdict(
                False,
                codes.BAD_SIGNATURE,
                "the signature does not match the body and timestamp (forged, altered on "
                "the way, or signed with another account's key)",
            )
        return ACCEPTED


def _verifier(public_key: Any) -> Callable[[bytes, bytes], bool]:
    """``verify(signature, message)`` for one key, loaded once. libsodium (PyNaCl) checks an
    Ed25519 signature in about a third of the time OpenSSL (``cryptography``) takes on the
    benchmark machine (62 against 186 microseconds), and the check is most of what a callback
    costs the receiver. ``cryptography`` still reads the key text and signs (the sandbox)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import BadSignatureError

    raw_key = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def verify(signature: bytes, message: bytes) -> bool:
        try:
            crypto_sign_open(signature + message, raw_key)
        except BadSignatureError:
            return False
        return True

    return verify
