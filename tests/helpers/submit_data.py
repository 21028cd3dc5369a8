"""Constants shared by the submission tests."""

from __future__ import annotations

from tests.helpers.env import SIP_PASSWORD

# Line numbers matter: the 422 test expects AIAssistantId at line 5, column 18.
PROFILE = f"""\
connection_id: "conn-123"
call:
  From: "+13120001234"
  # The assistant Telnyx does not know (see the 422 test).
  AIAssistantId: "assistant-gone"
  SipAuthUsername: "agent"
  SipAuthPassword: "{SIP_PASSWORD}"
"""
ASSISTANT_AT = "5:18"
TO = "+13125550123"
