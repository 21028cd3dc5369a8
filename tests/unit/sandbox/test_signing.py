"""Signed callbacks: every callback carries Telnyx's Ed25519 headers over the raw body, with a
fresh key per start or one from ``--signing-key``; the public key is printed and exposed."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from runner.sandbox import Sandbox
from tests.helpers.env import API_KEY
from tests.helpers.submit_data import TO
from tests.helpers.webhook_receiver import Receiver

VALID = {"From": "+13120001234", "To": TO, "AIAssistantId": "assistant-1"}
AUTH = {"Authorization": f"Bearer {API_KEY}"}
EVENTS = "initiated ringing answered completed"
WAIT = 20


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(expected: int) -> Receiver:
        made.append(Receiver(expected))
        return made[-1]

    yield make
    for r in made:
        r.close()


def post(server: Sandbox, body: dict) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=WAIT) as client:
        return client.post(f"{server.base_url}/texml/ai_calls/conn-1", json=body, headers=AUTH)


def verify(public_key: str, received: dict) -> None:
    """Telnyx's scheme: Ed25519 over b"{timestamp}|" + the raw body (raises if wrong)."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    signature = base64.b64decode(received["headers"]["telnyx-signature-ed25519"])
    stamp = received["headers"]["telnyx-timestamp"]
    key.verify(signature, stamp.encode() + b"|" + received["raw"])


def test_every_callback_is_signed_over_its_raw_form_body(sandbox, receiver):
    hook = receiver(expected=4)
    server = sandbox()
    assert len(base64.b64decode(server.public_key)) == 32
    post(server, {**VALID, "StatusCallback": hook.url, "StatusCallbackEvent": EVENTS})
    assert hook.done.wait(WAIT)
    for received in hook.received:
        verify(server.public_key, received)
        assert abs(int(received["headers"]["telnyx-timestamp"]) - time.time()) < 60
        assert received["type"] == "application/x-www-form-urlencoded"
    # One changed byte breaks the signature: it covers the body, not a re-encoding of it.
    tampered = dict(hook.received[0], raw=hook.received[0]["raw"].replace(b"=", b"=x", 1))
    with pytest.raises(InvalidSignature):
        verify(server.public_key, tampered)


def test_each_start_has_a_fresh_key(sandbox):
    assert sandbox().public_key != sandbox().public_key


@pytest.mark.parametrize("form", ["pem", "base64"])
def test_signing_key_file_is_used(sandbox, receiver, tmp_path, form):
    private = Ed25519PrivateKey.generate()
    key_file = tmp_path / "key"
    if form == "pem":
        key_file.write_bytes(
            private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        )
    else:
        raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        key_file.write_text(base64.b64encode(raw).decode() + "\n")
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    hook = receiver(expected=1)
    server = sandbox(signing_key=str(key_file))
    assert server.public_key == base64.b64encode(public).decode()
    post(server, {**VALID, "StatusCallback": hook.url})
    assert hook.done.wait(WAIT)
    verify(base64.b64encode(public).decode(), hook.received[0])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key", "expected an Ed25519 private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a valid key"),
        (None, "cannot read the signing key"),
        ("encrypted", "the PEM signing key is encrypted"),
    ],
)
def test_unusable_signing_key_is_reported(cli, tmp_path, content, message):
    key_file = tmp_path / "key.pem"
    if content == "encrypted":
        secret = BestAvailableEncryption(b"passphrase")
        pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, secret)
        key_file.write_bytes(pem)
    elif content is not None:
        key_file.write_bytes(content)
    result = cli("sandbox", "--port", "0", "--signing-key", str(key_file))
    assert result.exit_code == 1
    assert f"{key_file}: " in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_sandbox_command_prints_the_public_key_and_signs_with_it(tmp_path, receiver):
    from tests.helpers.submit import clean_env

    hook = receiver(expected=1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "sandbox", "--port", "0", "--seed", "7"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        key_line = proc.stdout.readline()
        account_line = proc.stdout.readline()
        seed_line = proc.stdout.readline()
        assert key_line.startswith("public key: ")
        assert account_line.startswith("account sid: ") and seed_line == "seed: 7\n"
        public_key = key_line.split(": ", 1)[1].strip()
        base = first.split()[-1] + "/v2"
        with httpx.Client(trust_env=False, timeout=WAIT) as client:
            client.post(
                f"{base}/texml/ai_calls/c",
                json={**VALID, "StatusCallback": hook.url},
                headers=AUTH,
            )
        assert hook.done.wait(WAIT)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=WAIT)
    verify(public_key, hook.received[0])
    assert f"export TELNYX_PUBLIC_KEY={public_key}" in err


def test_written_key_files_are_private(tmp_path):
    from runner.sandbox.signing import Signer

    path = tmp_path / "key.pem"
    signer = Signer()
    signer.write_key(str(path))
    assert (os.stat(path).st_mode & 0o777) == 0o600
    assert Signer.from_file(str(path)).public_key == signer.public_key
