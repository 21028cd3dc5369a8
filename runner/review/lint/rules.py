"""One small function per lint rule, and the rule table (``RULES``), in code order.

Rules only judge values they can know before the call: a field whose value is a template is
treated as unknown, so no rule guesses what it will render to.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from runner import codes
from runner.profiles.store import Profile
from runner.review.lint.registry import Effective, Finding, Rule
from runner.templates.render import is_template

AMD_ON = ("Enable", "DetectMessageEnd")
THRESHOLDS = (
    "MachineDetectionSpeechThreshold",
    "MachineDetectionSpeechEndThreshold",
    "MachineDetectionSilenceTimeout",
)
AMD_TUNING = (
    "DetectionMode",
    "AsyncAmd",
    "AsyncAmdStatusCallback",
    "AsyncAmdStatusCallbackMethod",
    "MachineDetectionTimeout",
    *THRESHOLDS,
    "MachineDetectionPromptEndTimeout",
    "MachineDetectionBeepProfile",
)
RECORDING_OPTIONS = (
    "RecordingChannels",
    "RecordingStatusCallback",
    "RecordingStatusCallbackEvent",
    "RecordingStatusCallbackMethod",
    "RecordingTimeout",
    "RecordingTrack",
    "Trim",
    "SendRecordingUrl",
)
CALLBACK_URLS = (
    "StatusCallback",
    "StatusCallbacks",
    "ConversationCallback",
    "ConversationCallbacks",
    "AsyncAmdStatusCallback",
    "RecordingStatusCallback",
)


def _call(profile: Profile) -> dict[str, Any]:
    call = profile.data.get("call")
    return call if isinstance(call, dict) else {}


def _known(call: dict[str, Any], field: str) -> tuple[bool, Any]:
    """(known, value): a template is unknown until the call; an absent field is known None."""
    value = call.get(field)
    if isinstance(value, str) and is_template(value):
        return False, None
    return True, value


def _amd_on(view: Effective) -> bool:
    known, mode = _known(view.call, "MachineDetection")
    return known and mode in AMD_ON


# --- CP401 -------------------------------------------------------------------------------------


def literal_sip_password(profile: Profile) -> Iterator[Finding]:
    value = _call(profile).get("SipAuthPassword")
    if isinstance(value, str) and value and not is_template(value):
        yield Finding(
            ("call", "SipAuthPassword"),
            "SipAuthPassword is written in the profile: a secret committed to git; take it "
            'from the environment instead: "{{ env.CALLPROFILE_SIP_PASSWORD }}"',
            at_key=False,
        )


# --- CP402 -------------------------------------------------------------------------------------


def premium_ignores_thresholds(view: Effective) -> Iterator[Finding]:
    known, mode = _known(view.call, "DetectionMode")
    if not (_amd_on(view) and known and mode == "Premium"):
        return
    for field in THRESHOLDS:
        if view.call.get(field) is not None:
            yield Finding(
                ("call", field),
                f"{field} has no effect: DetectionMode is Premium "
                f"(set at {view.where('DetectionMode')}), which ignores speech and silence "
                f"thresholds",
            )


# --- CP403 -------------------------------------------------------------------------------------


def amd_tuning_without_amd(view: Effective) -> Iterator[Finding]:
    known, mode = _known(view.call, "MachineDetection")
    if not known or mode in AMD_ON:
        return
    reason = (
        "MachineDetection is not set (detection is off by default)"
        if mode is None
        else f"MachineDetection is {mode} (set at {view.where('MachineDetection')})"
    )
    for field in AMD_TUNING:
        if view.call.get(field) is not None:
            yield Finding(
                ("call", field),
                f"{field} has no effect: {reason}",
            )


# --- CP404 -------------------------------------------------------------------------------------


def prompt_end_without_screening(view: Effective) -> Iterator[Finding]:
    if view.call.get("MachineDetectionPromptEndTimeout") is None or not _amd_on(view):
        return
    known, mode = _known(view.call, "DetectionMode")
    if not known or mode == "PremiumCallScreening":
        return
    now = "not set" if mode is None else f"{mode} (set at {view.where('DetectionMode')})"
    yield Finding(
        ("call", "MachineDetectionPromptEndTimeout"),
        "MachineDetectionPromptEndTimeout applies only with DetectionMode: "
        f"PremiumCallScreening; DetectionMode is {now}",
    )


# --- CP405 -------------------------------------------------------------------------------------


def async_callback_without_async(view: Effective) -> Iterator[Finding]:
    if view.call.get("AsyncAmdStatusCallback") is None or not _amd_on(view):
        return
    known, value = _known(view.call, "AsyncAmd")
    if not known or value is True:
        return
    now = "not set" if value is None else f"{value!r} (set at {view.where('AsyncAmd')})"
    yield Finding(
        ("call", "AsyncAmdStatusCallback"),
        f"AsyncAmdStatusCallback is only called with AsyncAmd: true; AsyncAmd is {now}",
    )


# --- CP406 -------------------------------------------------------------------------------------


def recording_without_record(view: Effective) -> Iterator[Finding]:
    known, record = _known(view.call, "Record")
    if not known or record is True:
        return
    now = "not set (off by default)" if record is None else f"false (set at {view.where('Record')})"
    for field in RECORDING_OPTIONS:
        if view.call.get(field) is not None:
            yield Finding(
                ("call", field),
                f"{field} has no effect: Record is {now}",
            )


# --- CP407 -------------------------------------------------------------------------------------


def _plain_http(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    if is_template(value):
        # Only a literal scheme in front of the template is known before the call.
        return value.lower().startswith("http://")
    return not value.lower().startswith("https://")


def callback_not_https(profile: Profile) -> Iterator[Finding]:
    call = _call(profile)
    for field in CALLBACK_URLS:
        value = call.get(field)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            if _plain_http(item):
                path = ("call", field) if index is None else ("call", field, index)
                yield Finding(
                    path,
                    f"{field} is not an https URL: callbacks carry call data (numbers, "
                    "transcripts, recording links) and would travel unencrypted",
                    at_key=False,
                )


# --- CP408 -------------------------------------------------------------------------------------


def unused_variable(view: Effective) -> Iterator[Finding]:
    from runner.templates.render import compile_templates

    declared = view.document.get("variables")
    if not isinstance(declared, dict) or not declared:
        return
    templates = compile_templates(view.document, view.provenance, set(declared))
    if any(t.problems for t in templates):
        return  # a template does not parse (CP201) or names an undeclared variable (CP202)
    used: set[str] = set()
    for template in templates:
        used |= template.names
    for name in declared:
        if name not in used:
            yield Finding(
                ("variables", name),
                f"variable {name!r} is declared but no template uses it; use it or remove it",
            )


# --- CP409 -------------------------------------------------------------------------------------


def unused_fragment(profiles: list[Profile]) -> Iterator[tuple[Profile, Finding]]:
    extended = {parent for p in profiles for parent in p.extends}
    for profile in profiles:
        if profile.abstract and profile.name not in extended:
            yield (
                profile,
                Finding(
                    ("abstract",),
                    f"profile {profile.name!r} is abstract and no profile extends it: "
                    "nothing can run it; extend it from a profile or delete it",
                ),
            )


RULES: tuple[Rule, ...] = (
    Rule(
        codes.LITERAL_SECRET,
        "error",
        "file",
        "SipAuthPassword written as a literal in a profile",
        "a secret committed to git; read it from the environment with {{ env.CALLPROFILE_... }}",
        literal_sip_password,
    ),
    Rule(
        codes.PREMIUM_THRESHOLDS,
        "warning",
        "effective",
        "speech/silence thresholds set while DetectionMode is Premium",
        "Premium detection ignores MachineDetectionSpeechThreshold, "
        "MachineDetectionSpeechEndThreshold and MachineDetectionSilenceTimeout",
        premium_ignores_thresholds,
    ),
    Rule(
        codes.AMD_TUNING_WITHOUT_AMD,
        "warning",
        "effective",
        "AMD tuning field set while MachineDetection is Disable or absent",
        "with detection off the API ignores every AMD setting; the profile promises "
        "something the call will not do",
        amd_tuning_without_amd,
    ),
    Rule(
        codes.PROMPT_END_WITHOUT_SCREENING,
        "warning",
        "effective",
        "MachineDetectionPromptEndTimeout without DetectionMode: PremiumCallScreening",
        "the prompt-end timeout applies only to call screening",
        prompt_end_without_screening,
    ),
    Rule(
        codes.ASYNC_CALLBACK_WITHOUT_ASYNC,
        "warning",
        "effective",
        "AsyncAmdStatusCallback without AsyncAmd: true",
        "the AMD callback is only sent in asynchronous mode",
        async_callback_without_async,
    ),
    Rule(
        codes.RECORDING_WITHOUT_RECORD,
        "warning",
        "effective",
        "recording option set without Record: true",
        "recording options do nothing unless the call is recorded",
        recording_without_record,
    ),
    Rule(
        codes.CALLBACK_NOT_HTTPS,
        "warning",
        "file",
        "callback URL that is not https",
        "callbacks carry numbers, transcripts and recording links; plain http exposes them",
        callback_not_https,
    ),
    Rule(
        codes.UNUSED_VARIABLE,
        "warning",
        "effective",
        "declared variable that no template uses",
        "a dead input: callers must pass it (or think they must) and it changes nothing",
        unused_variable,
    ),
    Rule(
        codes.UNQUOTED,
        "error",
        "schema",
        "unquoted value YAML read as a number or boolean where a string is wanted",
        "YAML turns +13125550100 into 13125550100 and NO into false; quote it (reported by "
        "the schema check, so it cannot be silenced)",
        None,
    ),
    Rule(
        codes.UNUSED_FRAGMENT,
        "warning",
        "store",
        "abstract profile that no profile extends",
        "an abstract profile cannot be run, so one nothing extends is dead weight or a typo "
        "in someone's extends",
        unused_fragment,
    ),
)
