"""``riskstream lists snooze | deny | allow``: verdict records a replay with ``--verdicts`` applies as a
reviewer's, raw entities pseudonymised as the engine does, expiries honoured, bad input refused."""

import json
from pathlib import Path

import jsonschema
import orjson
import pytest
from click.testing import CliRunner

from riskstream.cli import main
from riskstream.testing import at, make_order
from riskstream.verdicts import VerdictAction, read_verdicts

SCHEMA = Path(__file__).resolve().parents[2] / "riskstream" / "schemas" / "verdict-v1.schema.json"
RULES = """
ruleset: {version: lists-test, thresholds: {review: 40, hold: 80}}
rules:
  - id: bulk-order
    match: {quantity: {ge: 5}}
    score: 80
  - id: bulk-order-review
    match: {quantity: {ge: 5}}
    score: 40
"""
HOUR, DAY = 3600.0, 86400.0


def run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, env=env)


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "rules"
    path.mkdir()
    (path / "ruleset.yaml").write_text(RULES)
    return path


def test_list_entries_are_verdicts_that_replay_applies_with_their_expiry(tmp_path, rules):
    verdicts = tmp_path / "verdicts.jsonl"
    start = at(0)
    common = ["--at", start, "--reviewer", "alice", "-o", verdicts]
    made = [
        run("lists", "snooze", "bulk-order", "--account", "acct-a", "--for", "1d", "--rules", rules,
            "--note", "known wholesaler", *common),
        run("lists", "deny", "--ip", "203.0.113.9", "--phone", "+86 138 0013 8000", *common),
        run("lists", "allow", "--account", "acct-f", "--until", at(HOUR), *common),
    ]
    for result in made:
        assert result.exit_code == 0, result.output
    records = [orjson.loads(line) for line in verdicts.read_bytes().splitlines()]
    assert [orjson.loads(r.stdout) for r in made] == records  # printed and appended, the same record
    schema = json.loads(SCHEMA.read_text())
    for record in records:
        jsonschema.validate(record, schema)
    snooze, deny, allow = read_verdicts(verdicts.read_bytes().splitlines(), str(verdicts))
    assert snooze.action is VerdictAction.RELEASE and snooze.rule == "bulk-order" and snooze.accounts == ("acct-a",)
    assert snooze.expires_ts - snooze.ts == DAY and snooze.note == "known wholesaler" and snooze.reviewer == "alice"
    assert deny.action is VerdictAction.FREEZE and deny.expires_at is None
    assert [e.kind for e in deny.entities] == ["ip", "phone"] and all(len(e.key) == 20 for e in deny.entities)
    assert "203.0.113.9" not in verdicts.read_text() and "13800138000" not in verdicts.read_text()
    assert allow.action is VerdictAction.RELEASE and allow.rule is None and allow.expires_ts - allow.ts == HOUR

    orders = [
        make_order(HOUR, order_id="a-snoozed", account_id="acct-a", quantity=5),
        make_order(HOUR, order_id="b-not-snoozed", account_id="acct-b", quantity=5),
        make_order(2 * DAY, order_id="a-expired", account_id="acct-a", quantity=5),
        make_order(-60, order_id="ip-before", account_id="acct-c", ip="203.0.113.9"),
        make_order(HOUR, order_id="ip-denied", account_id="acct-d", ip="203.0.113.9"),
        make_order(HOUR, order_id="phone-denied", account_id="acct-e", phone="13800138000"),  # another spelling
        make_order(HOUR / 2, order_id="f-allowed", account_id="acct-f", quantity=5),
        make_order(2 * HOUR, order_id="f-expired", account_id="acct-f", quantity=5),
    ]
    orders.sort(key=lambda o: o["event_time"])
    history = tmp_path / "orders.jsonl"
    history.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in orders))
    out = tmp_path / "decisions.jsonl"
    replayed = run("replay", history, "--rules", rules, "--verdicts", verdicts, "-o", out)
    assert replayed.exit_code == 0, replayed.output
    final = {}
    for line in out.read_bytes().splitlines():
        decision = orjson.loads(line)
        final[decision["order_id"]] = decision
    actions = {o: d["action"] for o, d in final.items()}
    assert actions == {
        "a-snoozed": "review",  # bulk-order snoozed for acct-a: only the review rule's 40 points
        "b-not-snoozed": "hold",
        "a-expired": "hold",  # the snooze ended after a day
        "ip-before": "allow",  # the deny starts at its event time
        "ip-denied": "freeze",
        "phone-denied": "freeze",
        "f-allowed": "allow",
        "f-expired": "hold",
    }, actions
    rules_hit = {o: sorted(r["rule"] for r in d["reasons"]) for o, d in final.items()}
    assert "bulk-order" not in rules_hit["a-snoozed"] and "bulk-order" in rules_hit["a-expired"]
    reason = next(r for r in final["ip-denied"]["reasons"] if r["kind"] == "verdict")
    assert reason["value"]["reason"] == "verdict by alice" and reason["value"]["verdict_id"] == deny.verdict_id


def test_bad_list_entries_are_refused_with_the_reason(tmp_path, rules):
    base = ["--reviewer", "alice"]
    cases = [
        (["snooze", "bulk-order", "--account", "a", "--rules", rules], "a snooze needs an expiry"),
        (["snooze", "bulk-ordr", "--account", "a", "--for", "1d", "--rules", rules], "no rule 'bulk-ordr'"),
        (["snooze", "bulk-order", "--for", "1d", "--rules", rules], "name at least one account or entity"),
        (["deny", "--ip", "999.1.2.3"], "not an IPv4 or IPv6 address"),
        (["deny", "--entity", "ip"], "expected KIND:PSEUDONYM"),
        (["deny", "--entity", "ip:1.2.3.4"], "expected a pseudonym"),
        (["deny", "--entity", "shoe:0123456789abcdef0123"], "entities[0].kind"),
        (["deny", "--account", "a", "--for", "soon"], "--for"),
        (["deny", "--account", "a", "--at", "2026-11-11T20:00:00"], "UTC offset"),
        (["allow", "--account", "a", "--at", at(0), "--until", at(-1)], "must be later than event_time"),
        (["allow", "--account", "a", "--for", "1h", "--until", at(0)], "not both"),
    ]
    for args, problem in cases:
        result = run("lists", *args, *base)
        assert result.exit_code != 0 and problem in result.output, (args, result.output)
    nobody = run("lists", "deny", "--account", "a", env={"USER": "", "RISKSTREAM_REVIEWER": ""})
    assert nobody.exit_code != 0 and "--reviewer" in nobody.output
    # --no-check snoozes a rule the local files do not have (it may be in a published rule set)
    unchecked = run("lists", "snooze", "rule-from-elsewhere", "--account", "a", "--for", "1h", "--no-check", *base)
    assert unchecked.exit_code == 0 and orjson.loads(unchecked.stdout)["rule"] == "rule-from-elsewhere"
