"""The example profiles render through the CLI (a first end-to-end check of the flow)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLE_PROFILES

RUNNABLE = {
    "appointment-reminder": ["customer_name=Ada", "appointment_time=Tuesday 3 PM"],
    "sales/followup": ["customer_name=Ada", "product=Voice API"],
    "payments/reminder-eu": ["customer_name=Ada", "amount_due=120.00", "due_date=1 December"],
}


@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_example_profile_renders(cli, name):
    args = ["render", name, "--to", "+13125550123", "-o", "json"]
    for var in RUNNABLE[name]:
        args += ["--var", var]
    result = cli(*args, profiles_dir=EXAMPLE_PROFILES)
    assert result.exit_code == 0, result.stderr
    rendered = json.loads(result.stdout)
    assert rendered["call"]["To"] == "+13125550123"
    assert rendered["call"]["AIAssistantDynamicVariables"]["customer_name"] == "Ada"


def test_examples_validate_clean(cli):
    result = cli("validate", profiles_dir=EXAMPLE_PROFILES)
    assert result.exit_code == 0, result.stderr
    assert "0 error(s)" in result.stderr
