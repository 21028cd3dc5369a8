"""Every diagnostic code callprofile reports: the one registry (code, severity, meaning).

Modules use the named constants, never a literal code, so a code cannot be defined twice or
used without being listed here. ``markdown_table()`` renders the reference table the docs
carry (a test checks that the two agree). Ranges: CP0xx files and names, CP1xx schema, CP2xx
templates and variables, CP3xx the final request and overrides, CP4xx lint, CP5xx batch, CP6xx
campaigns (the calling policy, its verdicts, plan and apply), CP7xx call outcomes (listen,
callbacks, batch-reconcile; CP75x outcome-aware retries).
"""

from __future__ import annotations

from runner.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Literal

    Severity = Literal["error", "warning"]


class Code(Record):
    """A registered diagnostic code: its severity and one-line meaning."""

    __slots__ = ("code", "meaning", "severity")
    code: str
    severity: Severity
    meaning: str  # one line, for the reference table

    def __init__(self, code: str, severity: Severity, meaning: str) -> None:
        self._set(code=code, severity=severity, meaning=meaning)


REGISTRY: dict[str, Code] = {}


def register(code: str, severity: Severity, meaning: str) -> str:
    """Add a code to the registry and return it (to bind to a constant here)."""
    if code in REGISTRY:
        raise ValueError(f"diagnostic code {code} is registered twice")
    REGISTRY[code] = Code(code, severity, meaning)
    return code


# --- files and names ---------------------------------------------------------------------------
YAML_SYNTAX = register(
    "CP001",
    "error",
    "YAML syntax error, non-UTF-8 file, several documents in one file, unreadable value",
)
DUPLICATE_KEY = register("CP002", "error", "duplicate key (YAML would keep only the last one)")
YAML_ALIAS = register(
    "CP003",
    "error",
    "YAML anchor, alias or merge key (`<<`): share values through `extends` instead",
)
TOO_LARGE = register(
    "CP004", "error", "file too large (1 MB), nesting too deep (64 levels) or too many values"
)
YAML_TAG = register(
    "CP005", "error", "YAML tag (`!!python/...`, custom tags) or a non-text mapping key"
)
NOT_MAPPING = register("CP006", "error", "the file (or a vars file) is not a mapping")
UNREADABLE = register("CP007", "error", "the file cannot be read")
BAD_NAME = register(
    "CP010",
    "error",
    "invalid profile name, or a name resolving outside the profiles directory",
)
NO_PROFILE = register(
    "CP011",
    "error",
    'no such profile (with "did you mean"), or the profiles directory does not exist',
)
EXTENDS_CYCLE = register(
    "CP012", "error", "`extends` forms a cycle (the chain is printed: `a -> b -> a`)"
)
ABSTRACT = register("CP013", "error", "the profile is abstract: a fragment to extend, not to run")
NO_PROFILES_FOUND = register(
    "CP014",
    "error",
    "validate found no profile to check (a wrong `--profiles-dir`?); `--allow-empty` accepts it",
)

# --- the command line (these also give a reason to every `-o json` document) -------------------
USAGE = register(
    "CP015", "error", "a usage error: a flag, argument or setting the command cannot use (exit 2)"
)
INTERNAL = register("CP016", "error", "an internal error, a bug (exit 3); names the crash log")
BAD_PHONE_FLAG = register(
    "CP017", "error", "`--to` or `--from` is not a valid phone number (shown as given)"
)
CANNOT_PROCEED = register(
    "CP018",
    "error",
    "the command cannot go on: a file, ledger, lock, key or URL it needs (nothing was sent)",
)
INTERRUPTED = register("CP019", "error", "interrupted by Ctrl-C")

# --- schema ------------------------------------------------------------------------------------
SCHEMA = register(
    "CP101",
    "error",
    "a value does not fit the schema (type, enum, range, pattern such as E.164)",
)
UNQUOTED = register(
    "CP102",
    "error",
    "an unquoted value YAML read as a number or boolean where text is needed: quote it",
)
UNKNOWN_FIELD = register(
    "CP103",
    "error",
    'unknown field or key (with "did you mean"; Telnyx would silently ignore it)',
)
REFUSED_FIELD = register(
    "CP104",
    "error",
    "a field this endpoint refuses (`Twiml`, `Texml`, `Url`: Telnyx answers 422)",
)
YAML11_NUMBER = register(
    "CP105",
    "error",
    "a number in a form only YAML 1.1 reads so (`030`, `010` octal, `1:00` base 60, `0b1`, "
    "`1_000`): quote it or write the decimal",
)
EXTENDS_TOO_DEEP = register("CP106", "error", "an `extends` chain deeper than 64 profiles")
INVALID_TEXT = register(
    "CP108",
    "error",
    "text that is not valid Unicode (a flag or environment value that is not UTF-8)",
)

# --- templates and variables -------------------------------------------------------------------
TEMPLATE_SYNTAX = register(
    "CP201", "error", "template syntax error, or a construct templates may not use"
)
UNDECLARED_VARIABLE = register(
    "CP202", "error", "a template uses a variable the profile does not declare"
)
REQUIRED_VARIABLE = register("CP203", "error", "a required variable was not given")
TEMPLATE_RUNTIME = register(
    "CP204",
    "error",
    "template error while rendering (undefined attribute, sandbox refusal, value too long)",
)
COERCE = register("CP205", "error", "a rendered value does not convert to the field's type")
UNKNOWN_VARIABLE = register(
    "CP206", "error", "a value is given for a variable the profile does not declare"
)
TEMPLATE_VALUE_TOO_LARGE = register(
    "CP220",
    "error",
    "a template builds a value over the size budget (100,000 characters; integers 4,300 digits)",
)
TEMPLATE_TOO_MUCH_WORK = register(
    "CP221",
    "error",
    "a request's templates do more work than the budget allows, or run longer than 2 s",
)
VARIABLE_TOO_LONG = register(
    "CP222", "error", "a variable's value is longer than 100,000 characters"
)
NO_EXAMPLE = register(
    "CP207",
    "warning",
    "a required variable has no `example` (validate used a placeholder)",
)
ENV_UNSET = register(
    "CP208",
    "error",
    "a template reads `env.CALLPROFILE_...` that is not set (run, batch; validate uses a stand-in)",
)

# --- the final request and overrides -----------------------------------------------------------
REQUEST_SCHEMA = register(
    "CP301",
    "error",
    "the final request does not fit the request schema (names the layer that set the value)",
)
BAD_OVERRIDE = register(
    "CP302",
    "error",
    "a bad override (`--set`, `--set-json`, `--var`, a vars file value): syntax, field, type",
)
NO_CONNECTION = register(
    "CP303",
    "error",
    "no connection id (profile, `--connection-id` or `TELNYX_CONNECTION_ID`)",
)

# --- lint --------------------------------------------------------------------------------------
LITERAL_SECRET = register("CP401", "error", "`SipAuthPassword` written as a literal in a profile")
PREMIUM_THRESHOLDS = register(
    "CP402", "warning", "speech/silence thresholds set while `DetectionMode` is `Premium`"
)
AMD_TUNING_WITHOUT_AMD = register(
    "CP403", "warning", "AMD tuning field set while `MachineDetection` is `Disable` or absent"
)
PROMPT_END_WITHOUT_SCREENING = register(
    "CP404",
    "warning",
    "`MachineDetectionPromptEndTimeout` without `DetectionMode: PremiumCallScreening`",
)
ASYNC_CALLBACK_WITHOUT_ASYNC = register(
    "CP405", "warning", "`AsyncAmdStatusCallback` without `AsyncAmd: true`"
)
RECORDING_WITHOUT_RECORD = register(
    "CP406", "warning", "a recording option set without `Record: true`"
)
CALLBACK_NOT_HTTPS = register("CP407", "warning", "a callback URL that is not https")
UNUSED_VARIABLE = register("CP408", "warning", "a declared variable that no template uses")
UNUSED_FRAGMENT = register("CP409", "warning", "an abstract profile that no profile extends")

# --- batch -------------------------------------------------------------------------------------
CONTACTS_FILE = register("CP501", "error", "the contacts file cannot be read as a whole")
CONTACTS_ROW = register(
    "CP502", "error", "a contacts row cannot be read (bad JSON, wrong number of cells)"
)
BAD_NUMBER = register("CP503", "error", "a contacts row has no number, or not a valid one")
BAD_TIMEZONE = register("CP504", "error", "a contacts row's `timezone` is not an IANA zone")
DNC_LIST = register("CP506", "error", "a line of the do-not-call list cannot be read")
SEND_GATE = register(
    "CP507",
    "error",
    "the base URL or the API key cannot be used (plain http off loopback, a bad host, a key "
    "with spaces or control characters); nothing was sent",
)
ROW_NOT_PREPARED = register(
    "CP508", "error", "a contacts row could not become a request for another reason (named)"
)

# --- campaigns: the calling policy, its verdicts, plan and apply ------------------------------
POLICY_VALUE = register(
    "CP601",
    "error",
    "a `campaign.policy` value that cannot work (hours ending before they start, a date that "
    "does not exist)",
)
BAD_STATE = register(
    "CP602", "error", "a `state` (contacts column or `--state`) that is not a US state code"
)
BAD_CONSENT = register("CP603", "error", "a `consent` or `consent_date` cell that cannot be read")
NO_CONSENT = register(
    "CP610",
    "error",
    "not called: consent is required and the row has none (or no date, or a future date)",
)
WRITTEN_CONSENT = register(
    "CP611", "error", "not called: telemarketing needs written consent; the row has express"
)
ON_DNC = register("CP612", "error", "not called: the number is on the do-not-call list")
CONSENT_REVOKED = register(
    "CP613",
    "error",
    "not called: consent was revoked (a dated do-not-call entry) and not given again since",
)
OUTSIDE_HOURS = register(
    "CP614", "warning", "deferred: outside calling hours in the callee's local time"
)
QUIET_DAY = register("CP615", "warning", "deferred: a quiet day in the callee's local date")
ATTEMPTS_CAP = register("CP616", "warning", "deferred: the 24-hour attempts cap is reached")
UNKNOWN_ZONE = register(
    "CP617",
    "error",
    "a number with no usable time zone under calling hours (toll-free, +800, unknown, or zones "
    "never all inside the hours): skipped, never deferred; give the row a `timezone`",
)
PLAN_FILE = register(
    "CP620", "error", "the plan file cannot be used: not a plan, cut short, edited, another format"
)
PLAN_SECRET = register("CP621", "error", "a secret value would have been written into the plan")
PLAN_EXPIRED = register("CP622", "error", "the plan is older than it was made valid for")
PLAN_STALE = register(
    "CP623", "error", "an input changed since the plan was made (each one is named)"
)
PLAN_DRIFT = register("CP624", "error", "a planned row renders differently now than in the plan")


# --- outcomes: listen, callbacks, batch-reconcile (CP700-CP749) ---------------------------------
BAD_PUBLIC_KEY = register(
    "CP700",
    "error",
    "the public key for `listen` is not a base64 Ed25519 key (32 bytes) or an Ed25519 PEM block",
)
NO_PUBLIC_KEY = register(
    "CP701",
    "error",
    "`listen` (or `batch --listen`) has no public key to verify callbacks with: it does not start",
)
NO_VERIFY_REMOTE = register(
    "CP702",
    "error",
    "`--no-verify` on a host that is not loopback (refused)",
)
VERIFY_OFF = register(
    "CP703",
    "warning",
    "signature verification is off (`--no-verify`), announced on every start",
)
NO_SIGNATURE = register(
    "CP710",
    "error",
    "a callback without a `telnyx-signature-ed25519` header (403)",
)
NO_TIMESTAMP = register("CP711", "error", "a callback without a `telnyx-timestamp` header (403)")
BAD_TIMESTAMP = register("CP712", "error", "`telnyx-timestamp` is not a Unix time in seconds (403)")
STALE_TIMESTAMP = register(
    "CP713",
    "error",
    "`telnyx-timestamp` outside the 300 s tolerance: a replay or a skewed clock (403)",
)
MALFORMED_SIGNATURE = register("CP714", "error", "the signature is not base64 of 64 bytes (403)")
BAD_SIGNATURE = register(
    "CP715",
    "error",
    "the signature does not match timestamp and raw body: forged, altered, or another key (403)",
)
UNSIGNED_QUERY = register(
    "CP716",
    "error",
    "a GET callback: its query string is not covered by the signature (405; use POST)",
)
HTTP_BAD_REQUEST = register(
    "CP720",
    "error",
    "not a well-formed HTTP/1.1 request (bad line or header, conflicting lengths, too slow)",
)
BODY_TOO_LARGE = register("CP721", "error", "a callback body over 64 KB (413)")
BODY_NO_LENGTH = register(
    "CP722",
    "error",
    "a chunked or encoded body without Content-Length (411)",
)
HTTP_BAD_METHOD = register("CP723", "error", "a method other than POST (405)")
CALLBACK_ENCODING = register("CP724", "error", "a callback body that is not UTF-8 (400)")
CALLBACK_FORM = register(
    "CP725",
    "error",
    "a form callback that cannot be read: not a form, a field twice, too many or too long (400)",
)
CALLBACK_JSON = register(
    "CP726",
    "error",
    "a JSON webhook that cannot be read or lacks `data.event_type` / `payload` (400)",
)
CALLBACK_NO_CALL = register(
    "CP727",
    "error",
    "a callback naming no call (`CallSid` / `call_control_id`) (400)",
)
CALLBACK_FIELD = register(
    "CP728",
    "error",
    "a callback field with a value that cannot be used, e.g. `SequenceNumber` (400)",
)
CALLBACK_NOT_STORED = register(
    "CP730",
    "error",
    "a verified callback the ledger could not store; answered 503 so the sender retries",
)
NO_ACCOUNT_SID = register(
    "CP740",
    "error",
    "`batch-reconcile` has no Telnyx account sid to look calls up with",
)
LOOKUP_FAILED = register(
    "CP741",
    "error",
    "Telnyx's call list could not be read (or has more pages than are read): the row stays unknown",
)
SEVERAL_CALLS = register(
    "CP742",
    "warning",
    "more than one call matches an unknown row: recorded as placed (the earliest), never redialled",
)
LOOKUP_TOO_RECENT = register(
    "CP743",
    "warning",
    "no call listed yet, but the claim is inside the safety margin: the row stays unknown",
)


# --- outcome-aware retries (CP750-CP769) -----------------------------------------------------
RETRY_VALUE = register(
    "CP750",
    "error",
    "a `campaign.retry` that cannot work (a part missing, a duration too long)",
)


def severity(code: str) -> Severity:
    return REGISTRY[code].severity


def markdown_table() -> str:
    """The reference table of every code, as docs/reference/diagnostics.md carries it."""
    lines = ["| Code | Severity | Meaning |", "|---|---|---|"]
    for code in sorted(REGISTRY):
        entry = REGISTRY[code]
        lines.append(f"| {entry.code} | {entry.severity} | {entry.meaning} |")
    return "\n".join(lines) + "\n"
