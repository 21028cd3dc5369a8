"""The request schema's own rules, as the final check before sending applies them (issue 2,
"The request schema")."""

from __future__ import annotations

import pytest

from tests.helpers.core import BASE, failed, make_profiles, rendered


@pytest.fixture
def tree(tmp_path):
    return make_profiles(tmp_path / "profiles", {"p": BASE})


ACCEPTED = [
    ("To=+442079460958", "To", "+442079460958"),
    ("To=+123456789012345", "To", "+123456789012345"),  # 15 digits, the E.164 maximum
    ("CallerId=Acme Billing-1_~!.+", "CallerId", "Acme Billing-1_~!.+"),
    ("CallerId=" + "a" * 128, "CallerId", "a" * 128),
    (
        "StatusCallbackEvent=initiated ringing answered completed",
        "StatusCallbackEvent",
        "initiated ringing answered completed",
    ),
    (
        "RecordingStatusCallbackEvent=completed absent",
        "RecordingStatusCallbackEvent",
        "completed absent",
    ),
]


@pytest.mark.parametrize(("flag", "field", "value"), ACCEPTED, ids=[a[1] for a in ACCEPTED])
def test_accepted_values(cli, tree, flag, field, value):
    assert rendered(cli, tree, "p", "--set", flag)["call"][field] == value


REFUSED = [
    ("To=+1234567890123456", "is not an E.164 number"),  # 16 digits
    ("To=13125550100", "is not an E.164 number"),
    ("To=+13125550100\n", "is not an E.164 number"),  # $ must not match before a newline
    ("To=+0312555010", "is not an E.164 number"),
    ("CallerId=Acme/Billing", "may hold only letters, digits, spaces and -_~!.+"),
    ("CallerId=" + "a" * 129, "is 129 characters long; at most 128"),
    (
        "StatusCallbackEvent=initiated bogus",
        "is not a space-separated list of allowed events (initiated ringing answered completed "
        "no-answer busy canceled failed analyzed)",
    ),
    ("StatusCallbackEvent=initiated,completed", "is not a space-separated list"),
    ("RecordingStatusCallbackEvent=done", "is not a space-separated list of allowed events"),
    (
        "MachineDetection=enable",
        "is not one of Enable, Disable, DetectMessageEnd; did you mean 'Enable'?",
    ),
]


@pytest.mark.parametrize(("flag", "message"), REFUSED)
def test_refused_values_name_the_flag(cli, tree, flag, message):
    err = failed(cli, tree, "render", "p", "--set", flag)
    assert err.startswith("--set ")
    assert message in err
    assert "[CP301]" in err


def test_dynamic_variable_values_must_be_text(cli, tree):
    err = failed(cli, tree, "render", "p", "--set-json", "AIAssistantDynamicVariables.n=5")
    assert "AIAssistantDynamicVariables.n: expected a string, got integer 5" in err


@pytest.mark.parametrize("field", ["From", "AIAssistantId"])
def test_required_fields(cli, tree, field):
    err = failed(cli, tree, "render", "p", "--set-json", f"{field}=null")
    assert f"missing required field {field!r}" in err
