"""The verdict contract: valid verdicts parse and round-trip, bad ones name the field, the schema agrees."""

import json
from pathlib import Path

import jsonschema
import orjson
import pytest

from riskstream.entities import pseudonym
from riskstream.verdicts import (
    VERDICT_SCHEMA,
    EntityRef,
    Verdict,
    VerdictAction,
    VerdictError,
    parse_verdict,
    read_verdicts,
)

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "riskstream" / "schemas" / "verdict-v1.schema.json").read_text())
DEVICE = pseudonym("device", "emu-17", b"k")


def record(**changes):
    data = {"schema": VERDICT_SCHEMA, "verdict_id": "v-1", "reviewer": "alice",
            "event_time": "2026-11-11T20:05:00+08:00", "action": "freeze", "accounts": ["u1", "u2"],
            "entities": [{"kind": "device", "key": DEVICE}], "orders": ["o-1"], "note": "ring of emulators"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_a_verdict_parses_and_round_trips():
    verdict = parse_verdict(orjson.dumps(record()))
    assert verdict.action is VerdictAction.FREEZE and verdict.reviewer == "alice"
    assert verdict.accounts == ("u1", "u2") and verdict.orders == ("o-1",)
    assert verdict.entities == (EntityRef("device", DEVICE),)
    assert verdict.ts == 1794398700.0 and verdict.expires_ts is None
    assert verdict.reason_text == "verdict by alice"
    assert parse_verdict(verdict.encode()) == verdict
    assert orjson.loads(verdict.encode()) == record()


def test_create_gives_a_fresh_id_and_the_time_now():
    one = Verdict.create("release", "bob", orders=["o-9"])
    two = Verdict.create(VerdictAction.RELEASE, "bob", orders=["o-9"])
    assert one.verdict_id != two.verdict_id and one.verdict_id.startswith("v-")
    assert one.event_time.endswith("+00:00") and parse_verdict(one.encode()) == one


def test_repeated_names_are_kept_once_in_order():
    verdict = parse_verdict(record(accounts=["u2", "u1", "u2"], entities=[{"kind": "device", "key": DEVICE}] * 2))
    assert verdict.accounts == ("u2", "u1") and len(verdict.entities) == 1


def test_a_snooze_names_its_rule_and_expiry():
    verdict = parse_verdict(record(action="false_positive", rule="device-accounts", expires_at="2026-11-18T20:05:00+08:00"))
    assert verdict.action.releases and verdict.rule == "device-accounts"
    assert verdict.expires_ts == verdict.ts + 7 * 86400


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"schema": None}, "schema", "missing"),
        ({"schema": "riskstream.verdict/v2"}, "schema", "expected"),
        ({"verdict_id": None}, "verdict_id", "missing"),
        ({"verdict_id": 5}, "verdict_id", "string"),
        ({"reviewer": "  "}, "reviewer", "empty"),
        ({"event_time": "now"}, "event_time", "RFC 3339"),
        ({"event_time": "2026-11-11T20:05:00"}, "event_time", "offset"),
        ({"action": "ban"}, "action", "freeze, release, false_positive, escalate"),
        ({"accounts": "u1"}, "accounts", "list"),
        ({"accounts": ["u1", ""]}, "accounts[1]", "non-empty string"),
        ({"orders": [7]}, "orders[0]", "non-empty string"),
        ({"entities": [{"kind": "shoe", "key": DEVICE}]}, "entities[0].kind", "expected one of"),
        ({"entities": [{"kind": "ip", "key": "203.0.113.7"}]}, "entities[0].key", "pseudonym"),
        ({"entities": [{"kind": "ip", "key": DEVICE, "raw": "x"}]}, "entities[0].raw", "unknown field"),
        ({"entities": ["device"]}, "entities[0]", "object"),
        ({"acounts": ["u1"]}, "acounts", "unknown field"),
        ({"expires_at": "2026-11-11T20:00:00+08:00"}, "expires_at", "later than event_time"),
        ({"rule": "device-accounts"}, "rule", "only a release or a false positive"),
        ({"action": "release", "rule": "device-accounts"}, "expires_at", "needs an expiry"),
        ({"action": "release", "rule": "r", "expires_at": "2026-11-12T00:00:00Z", "accounts": None, "entities": None},
         "rule", "accounts or entities"),
        ({"note": "x" * 4001}, "note", "limit"),
    ],
)
def test_bad_verdicts_name_the_field(change, field, words):
    with pytest.raises(VerdictError) as info:
        parse_verdict(orjson.dumps(record(**change)))
    assert info.value.field == field
    assert words in str(info.value)


@pytest.mark.parametrize("raw, words", [(b"", "empty"), (b"{not json", "not valid JSON"), (b"[1]", "JSON object"),
                                        (b" " * 1_000_001, "exceeds")])
def test_undecodable_verdicts(raw, words):
    with pytest.raises(VerdictError) as info:
        parse_verdict(raw)
    assert info.value.field is None and words in str(info.value)


def test_a_verdict_must_cover_something():
    with pytest.raises(VerdictError, match="at least one account, entity or order"):
        parse_verdict(record(accounts=[], entities=None, orders=None))


def test_a_file_of_verdicts_names_the_bad_line():
    good = orjson.dumps(record())
    assert [v.verdict_id for v in read_verdicts([good, b"\n", orjson.dumps(record(verdict_id="v-2"))])] == ["v-1", "v-2"]
    with pytest.raises(VerdictError) as info:
        read_verdicts([good, b"", orjson.dumps(record(action="ban"))], "verdicts.jsonl")
    assert info.value.field == "action" and "verdicts.jsonl:3:" in str(info.value)


GOOD = [record(), record(action="escalate", accounts=None, entities=None),
        record(action="false_positive", rule="r-1", expires_at="2026-11-18T20:05:00+08:00", orders=None),
        record(action="release", expires_at="2026-11-12T20:05:00Z", entities=None, note=None, case_id="c-1")]
BAD = [record(schema=None), record(action="ban"), record(acounts=["u1"]), record(accounts=[], entities=None, orders=None),
       record(entities=[{"kind": "ip", "key": "203.0.113.7"}]), record(rule="r-1", expires_at="2026-11-18T20:05:00Z"),
       record(action="release", rule="r-1"), record(accounts=["u1", ""]), record(entities=[{"kind": "shoe", "key": DEVICE}])]


@pytest.mark.parametrize("data", GOOD)
def test_the_published_schema_accepts_what_the_parser_accepts(data):
    parse_verdict(data)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)


@pytest.mark.parametrize("data", BAD)
def test_the_published_schema_refuses_what_the_parser_refuses(data):
    with pytest.raises(VerdictError):
        parse_verdict(data)
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(data)


def test_the_schema_is_itself_valid_and_names_the_contract():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == VERDICT_SCHEMA
    for field in SCHEMA["required"]:
        data = record()
        del data[field]
        with pytest.raises(VerdictError) as info:
            parse_verdict(data)
        assert info.value.field == field
