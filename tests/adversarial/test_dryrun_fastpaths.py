"""The fast paths behind the ``batch --dry-run`` speed never change an answer.

Each per-row shortcut is compared here with the general path it stands in for, on varied
inputs: the phone classification with phonenumbers' own, the output masker with
``secrets.shown``, the Unicode pre-check with the walk that names the bad value, the JSON
escaping shortcut with the full scan, the dry-run line built around the request's own body
JSON with ``json.dumps``, a batch's one Judge with judging every row afresh.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner import phone, secrets
from runner.batch.window import zones_for
from runner.campaign.callee import callee
from runner.campaign.consent import Evidence
from runner.campaign.guard import Guard
from runner.campaign.policy import FEDERAL_HOURS, Hours, Policy, Setting
from runner.campaign.verdict import DncEntry, Facts, caps, judge
from runner.cli.batch_view import dry_run_line
from runner.flow.request import Request, invalid_text, invalid_text_walk
from runner.phonetype import types_for
from runner.textsafety import escape_json_text, escape_json_text_scan

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Calling codes shared by several regions (+1, +7, +44, +47, +61, +262, +590, +599) and some
# with one region or none (+800 is global, +999 is unassigned).
SHARED = ["+1", "+7", "+44", "+47", "+61", "+262", "+290", "+590", "+599", "+33", "+800", "+999"]
numbers = st.tuples(
    st.sampled_from([*SHARED, "+1242", "+1345", "+1671", "+1787", "+1800", "+1907", "+7840"]),
    st.text("0123456789", min_size=3, max_size=11),
).map("".join)


def _public(parsed: phonenumbers.PhoneNumber) -> tuple[str | None, int]:
    return phonenumbers.region_code_for_number(parsed), phonenumbers.number_type(parsed)


@SETTINGS
@given(numbers)
def test_one_pass_classification_matches_phonenumbers(text):
    """normalise learns a number's region and type in one pass; both are phonenumbers'."""
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return
    try:
        e164 = phone.normalise(text)
    except phone.NumberError:
        assert not phonenumbers.is_valid_number(parsed), text
        return
    known = phone.known(e164)
    assert (known.region, known.kind) == _public(parsed), text


def test_classification_matches_phonenumbers_for_every_region_and_type():
    """Every region's example number of every type, and near misses of it (the owner of a
    shared calling code is found by classifying the number against each region in turn)."""
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for delta in (0, 1, 7, 1000):
                parsed = phonenumbers.PhoneNumber(
                    country_code=example.country_code,
                    national_number=example.national_number + delta,
                    italian_leading_zero=example.italian_leading_zero,
                )
                text = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                valid = phonenumbers.is_valid_number(parsed)
                try:
                    e164 = phone.normalise(text)
                except phone.NumberError:
                    assert not valid, text
                    continue
                assert valid, text
                known = phone.known(e164)
                assert (known.region, known.kind) == _public(parsed), text
                checked += 1
    assert checked > 1000


# --------------------------------------------------------------------------- output masking

# Marked, so that no other test's output can hold one (secrets are remembered per process).
secret_text = st.text(max_size=8).map(lambda s: f"fastpath\u00a7{s}")
# What an environment variable can hold: no NUL, no lone surrogate.
env_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
).map(lambda s: f"fastpath\u00a7{s}")
filler = st.text(max_size=8)


@contextmanager
def environment(values: dict[str, str]):
    """``values`` in the environment, and the secrets remembered meanwhile forgotten after."""
    saved = {name: os.environ.get(name) for name in values}
    remembered = set(secrets._known)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        secrets._known.intersection_update(remembered)


@SETTINGS
@given(
    from_env=env_text,
    key=st.one_of(st.none(), env_text),
    before=secret_text,
    later=secret_text,
    pieces=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20), filler), max_size=6),
    reveal=st.booleans(),
)
def test_masker_masks_what_shown_masks(from_env, key, before, later, pieces, reveal):
    """A masker (environment read once, spellings rebuilt when a secret is remembered) masks
    every text as ``secrets.shown`` does, before and after a new secret is remembered."""
    names = {"CALLPROFILE_FASTPATH_SECRET": from_env}
    if key is not None:
        names["TELNYX_API_KEY"] = key
    with environment(names):
        if key is None:
            os.environ.pop("TELNYX_API_KEY", None)
        secrets.remember(before)
        masker = secrets.Masker(reveal)
        candidates = [from_env, key or "", before, later]

        def text() -> str:
            out = []
            for which, form, pad in pieces:
                spelled = secrets.spellings(candidates[which]) if candidates[which] else ("",)
                out.append(pad + spelled[form % len(spelled)])
            return "".join(out) + "tail"

        assert masker(text()) == secrets.shown(text(), reveal)
        secrets.remember(later)
        assert masker(text()) == secrets.shown(text(), reveal)


# --------------------------------------------------------------------------- invalid text

unicode_text = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(["\ud800", "\udcff", "\udfff", "é"])),
    max_size=6,
)
bodies = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), unicode_text),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(unicode_text, inner, max_size=3),
    max_leaves=10,
)


@SETTINGS
@given(st.dictionaries(unicode_text, bodies, max_size=4), unicode_text)
def test_unicode_precheck_answers_like_the_walk(body, connection_id):
    """``invalid_text`` answers "all valid" from one JSON encoding; whenever it does, the walk
    over every key and string finds nothing, and otherwise the walk's own findings are kept."""
    request = Request("p", connection_id, body, provenance={})
    assert invalid_text(request) == invalid_text_walk(request)


# --------------------------------------------------------------------------- JSON escaping

json_like = st.text(
    alphabet=st.one_of(
        st.characters(max_codepoint=0x7F),
        st.sampled_from(["\x7f", "\x85", "\u202e", "\ud800", "é", "\n", "\t", "\x1b"]),
    ),
    max_size=40,
)


@SETTINGS
@given(st.one_of(json_like, st.builds(json.dumps, json_like, ensure_ascii=st.booleans())))
def test_printable_ascii_shortcut_escapes_like_the_scan(text):
    """Lines that are printable ASCII skip the substitution pass; the result is the same."""
    assert escape_json_text(text) == escape_json_text_scan(text)


# --------------------------------------------------------------------------- dry-run lines

json_bodies = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**70), 2**70),
            st.floats(),
            st.text(max_size=8),
        ),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=10,
    ),
    max_size=5,
)


@SETTINGS
@given(st.integers(0, 10**7), st.text(max_size=16), st.text(max_size=16), json_bodies)
def test_a_dry_run_line_with_the_body_spliced_in_is_json_dumps(row, to, connection_id, body):
    """The dry run prints the body's JSON as the request encoded it, inside a line built around
    it: byte for byte what ``json.dumps`` of the whole line gives."""
    request = Request("p", connection_id, body, provenance={})
    everything = json.dumps(
        {"row": row, "to": to, "connection_id": connection_id, "body": body}, ensure_ascii=False
    )
    assert request.body_json() == json.dumps(body, ensure_ascii=False)
    assert dry_run_line(row, to, connection_id, body, request.body_json()) == everything
    assert dry_run_line(row, to, connection_id, body) == everything
    fresh = Request("p", connection_id, body, provenance={})
    if not invalid_text(fresh):  # the Unicode check's encoding is the one kept
        assert fresh.body_json() == json.dumps(body, ensure_ascii=False)


# --------------------------------------------------------------------------- calling policy

DAYS = (datetime(2019, 1, 1).date(), datetime(2036, 1, 1).date())
policies = st.builds(
    lambda hours, state_rules, consent, purpose, cap, quiet: Policy(
        "p",
        {
            key: Setting(value, f"profiles/p.yaml:{n}:3")
            for n, (key, value) in enumerate(
                (
                    ("hours", hours),
                    ("state_rules", state_rules),
                    ("consent", consent),
                    ("purpose", purpose),
                    ("max_attempts_per_24h", cap),
                    ("quiet_days", quiet),
                ),
                start=1,
            )
            if value is not None
        },
    ),
    st.one_of(
        st.none(),
        st.just(FEDERAL_HOURS),
        st.builds(Hours, st.times(), st.times()).filter(lambda h: h.start != h.end),
    ),
    st.one_of(st.none(), st.booleans()),
    st.sampled_from([None, "required"]),
    st.sampled_from([None, "telemarketing", "informational"]),
    st.one_of(st.none(), st.integers(0, 4)),
    st.one_of(st.none(), st.lists(st.dates(*DAYS), max_size=3).map(tuple)),
)
callee_numbers = st.sampled_from(
    ["+13125550123", "+19075550123", "+18005550123", "+14075550123", "+14055550123",
     "+16135550123", "+447911123456", "+80012345678"]
)  # fmt: skip


@SETTINGS
@given(
    policies,
    st.lists(
        st.tuples(
            callee_numbers,
            st.sampled_from([None, "FL", "OK", "NY", "TX"]),
            st.sampled_from([None, "America/Chicago", "Pacific/Honolulu"]),
            st.sampled_from([None, "written", "express"]),
            st.one_of(st.none(), st.dates(*DAYS)),
            st.booleans(),
            st.one_of(st.none(), st.integers(0, 5)),
        ),
        min_size=1,
        max_size=6,
    ),
    st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(timezone.utc)),
)
def test_a_batchs_judge_gives_the_verdicts_of_judging_each_row_afresh(policy, rows, at):
    """A batch judges every row with one Judge (rules looked up once per set of states); each
    verdict, and each row's 24-hour cap, is the one ``judge`` and ``caps`` give afresh."""
    guard = Guard(policy)
    for number, state, zone, kind, on, listed, attempts in rows:
        facts = Facts(
            callee(phone.normalise(number), state=state, zone=zone),
            Evidence(kind, on),
            DncEntry(None, "dnc.csv") if listed else None,
            attempts,
        )
        assert guard.judge(facts, at) == judge(facts, policy, at)
        assert guard.judged.caps(facts) == caps(facts, policy)
        # Looked up only when asked (a policy without hours never asks), and then the same.
        e164 = phone.normalise(number)
        assert facts.callee.zones == ((zone,) if zone else zones_for(e164))


@SETTINGS
@given(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)), st.text("0123456789", max_size=13))
def test_compiled_number_types_match_phonenumbers(region, digits):
    """Any digits against any region's compiled descriptions: phonenumbers' own type."""
    from phonenumbers import phonenumberutil as util

    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    expected = util._number_type_helper(digits, metadata)
    assert types_for(metadata, phonenumbers.PhoneNumberType).of(digits) == expected


def _reference(text: str, region: str | None) -> str | None:
    """normalise by phonenumbers' public calls alone: the E.164 form, or None when refused."""
    try:
        parsed = phonenumbers.parse(text.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def test_north_american_e164_is_read_as_phonenumbers_reads_it():
    """The shortcut for ``+1`` and ten digits (runner.phone._nanp) builds what parse builds, and
    normalise then answers as phonenumbers does, for every area code (and every first digit
    of the exchange) under several regions."""
    import random

    rng = random.Random(12)
    checked = 0
    for area in range(1000):  # 000-199 too: the shortcut must leave those to parse
        for exchange_first in "0123456789":
            text = f"+1{area:03d}{exchange_first}{rng.randrange(10**6):06d}"
            for region in (None, "US", "CA", "GB"):
                built = phone._nanp(phonenumbers, text)
                if area < 200:
                    assert built is None
                else:
                    assert built == phonenumbers.parse(text, region), text
                    e164 = phonenumbers.format_number(built, phonenumbers.PhoneNumberFormat.E164)
                    assert e164 == text
                try:
                    ours: str | None = phone.normalise(text, region)
                except phone.NumberError:
                    ours = None
                assert ours == _reference(text, region), (text, region)
                checked += 1
    assert checked == 1000 * 10 * 4


@given(st.text("+0123456789 ()-.x", max_size=16), st.sampled_from([None, "US", "CA", "FR"]))
@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
def test_normalise_answers_as_phonenumbers_inside_and_outside_the_shortcut(text, region):
    """Text near the shortcut's class (a leading 1 or 0 in the area code, eleven or thirteen
    characters, spaces, other characters) takes the general path, with the same answers."""
    try:
        ours: str | None = phone.normalise(text, region)
    except phone.NumberError:
        ours = None
    assert ours == _reference(text, region)


@pytest.mark.parametrize(
    "text",
    ["+13125550123", "+11235550123", "+10125550123", "+1312555012", "+131255501234",
     "+1312555012٣", "+1 312 555 0123", " +13125550123 ", "+1312555O123", "+23125550123"],
)  # fmt: skip
def test_near_misses_of_the_shortcut(text):
    for region in (None, "US"):
        try:
            ours: str | None = phone.normalise(text, region)
        except phone.NumberError:
            ours = None
        assert ours == _reference(text, region)
