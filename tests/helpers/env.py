"""Constants every test shares: where the repository is, and the secrets no output may show."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE_PROFILES = ROOT / "profiles"
API_KEY = "KEY0123456789abcdefSECRETtestkey"
SIP_PASSWORD = "sip-pass-Zq8#secret"


def assert_no_secrets(text: str, allow: object = None) -> None:
    if allow:
        return
    for secret in (API_KEY, SIP_PASSWORD):
        assert secret not in text, f"a secret leaked into output: {text!r}"
