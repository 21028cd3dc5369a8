"""Ed25519 signatures on callbacks, as Telnyx signs its webhooks.

Headers ``telnyx-signature-ed25519`` (base64 of the 64-byte signature) and ``telnyx-timestamp``
(Unix seconds); the signed message is ``b"{timestamp}|" + raw body``. The public key is shown
the way Telnyx's portal shows an account's key: base64 of the 32 raw bytes.

Key files (``--signing-key FILE``) hold the private key as PEM (PKCS#8, unencrypted) or as the
base64 of its 32 raw bytes; ``write_key`` writes the PEM form with mode 0600.
"""

from __future__ import annotations

import base64
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
MAX_KEY_FILE = 16 * 1024


class KeyFileError(ValueError):
    """A signing key file that cannot be used; the message names the file."""


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey | None = None):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self._key = private_key or Ed25519PrivateKey.generate()
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
            PublicFormat,
        )

        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = base64.b64encode(raw).decode("ascii")
        # libsodium signs in about half the time OpenSSL takes here, and the sandbox signs every
        # callback it sends; Ed25519 signatures are deterministic, so both give the same bytes.
        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        self._sodium_key = seed + raw

    @classmethod
    def from_file(cls, path: str) -> Signer:
        return cls(load_key(path))

    def sign(self, body: bytes, timestamp: int | None = None) -> list[tuple[str, str]]:
        """The two signature headers for ``body`` sent at ``timestamp`` (default: now)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        from nacl.bindings import crypto_sign

        signed = crypto_sign(stamp.encode("ascii") + b"|" + body, self._sodium_key)
        signature = signed[:64]  # crypto_sign returns the signature followed by the message
        return [
            (SIGNATURE_HEADER, base64.b64encode(signature).decode("ascii")),
            (TIMESTAMP_HEADER, stamp),
        ]

    def write_key(self, path: str) -> None:
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
        )

        pem = self._key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)


def load_key(path: str) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the signing key ({exc.strerror})") from None
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"{path}: too large for a signing key")
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = load_pem_private_key(text, password=None)
        except TypeError:  # cryptography's way of saying a password is needed
            raise KeyFileError(f"{path}: the PEM signing key is encrypted") from None
        except ValueError:
            raise KeyFileError(f"{path}: the PEM signing key is not a valid key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{path}: the PEM key is not an Ed25519 private key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise KeyFileError(
            f"{path}: expected an Ed25519 private key as PEM (PKCS#8) or as base64 of 32 bytes"
        )
    return Ed25519PrivateKey.from_private_bytes(raw)
