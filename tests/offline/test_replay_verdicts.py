"""``riskstream replay --verdicts``: verdicts merged by time with the orders, the same lists as the workers'."""

import random
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from riskstream import Verdict
from riskstream.cli import main
from riskstream.engine import DecisionEngine
from riskstream.events import parse_order
from riskstream.offline.replay import ReplayReport, decide_records
from riskstream.offline.verdicts import VerdictSchedule
from riskstream.rules import load_ruleset
from riskstream.sim import simulate
from riskstream.testing import at, make_order

RULES_SHIPPED = Path(__file__).resolve().parents[2] / "rules"
RULES = """
ruleset: {version: test, thresholds: {review: 40, hold: 70}}
rules:
  - id: account-orders
    velocity: {key: [account], metric: count, window: 1h}
    above: 1
    outcome: hold
"""


def jsonl(path, rows):
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


def test_replay_applies_a_verdict_file_by_time(tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES)
    orders = [make_order(t, account_id=a) for t, a in ((0, "a"), (10, "a"), (20, "b"), (30, "a"), (40, "b"))]
    held = orders[1]["order_id"]
    verdicts = [Verdict.create("freeze", "alice", accounts=["b"], event_time=at(25), verdict_id="v-1").to_dict(),
                Verdict.create("release", "bob", orders=[held], event_time=at(35), verdict_id="v-2").to_dict()]
    result = CliRunner().invoke(main, ["replay", str(jsonl(tmp_path / "orders.jsonl", orders)), "--rules",
                                       str(tmp_path / "rules.yaml"), "--verdicts",
                                       str(jsonl(tmp_path / "verdicts.jsonl", verdicts)),
                                       "-o", str(tmp_path / "out.jsonl"), "--report", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert [(d["order_id"], d["action"], d["revision"]) for d in lines] == [
        (orders[0]["order_id"], "allow", 1), (held, "hold", 1), (orders[2]["order_id"], "allow", 1),
        (orders[3]["order_id"], "hold", 1), (orders[4]["order_id"], "freeze", 1),
        (held, "allow", 2),  # released after the last order: the verdict's time is later than 30 s
    ]
    assert lines[4]["reasons"][-1]["value"]["reason"] == "verdict by alice"
    assert lines[5]["reasons"][-1]["value"]["reason"] == "verdict by bob"
    report = orjson.loads((tmp_path / "report.json").read_bytes())
    assert report["verdicts"] == {"filed": 2, "revisions": 1}
    assert report["actions"]["hold"] == 1 and report["actions"]["freeze"] == 1 and report["actions"]["allow"] == 3
    assert "verdicts: 2 filed, 1 earlier orders revised" in result.output


def test_a_bad_verdict_file_ends_replay_naming_the_line(tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES)
    bad = jsonl(tmp_path / "verdicts.jsonl", [{"schema": "riskstream.verdict/v1", "verdict_id": "v"}])
    result = CliRunner().invoke(main, ["replay", str(jsonl(tmp_path / "o.jsonl", [make_order()])), "--rules",
                                       str(tmp_path / "rules.yaml"), "--verdicts", str(bad)])
    assert result.exit_code == 1 and "verdicts.jsonl:1: required field is missing" in result.output


def final_actions(events, verdicts, up_front):
    engine = DecisionEngine(load_ruleset(str(RULES_SHIPPED)))
    schedule = None
    if up_front:
        for verdict in verdicts:
            engine.add_verdict(verdict)
    else:
        schedule = VerdictSchedule(engine, verdicts)
    records = ((str(n), e) for n, e in enumerate(events))
    return {d.order_id: d for _, d in decide_records(engine, records, ReplayReport(), verdicts=schedule)}


@pytest.mark.parametrize("seed", [3, 4])
def test_merged_by_time_equals_every_verdict_known_from_the_start(seed):
    """Filing verdicts as their time comes (and revising the orders they name) ends where
    filing them all first does: the lists depend on event times alone, not on arrival."""
    events = list(simulate(1500, seed=seed))
    first = final_actions(events, [], up_front=True)
    rng = random.Random(seed)
    flagged = [e for e in events if first[e["order_id"]].action.label in ("hold", "review")]
    times = sorted(parse_order(e).ts for e in events)
    span = times[-1] - times[0]
    verdicts = []
    for n, order in enumerate(rng.sample(flagged, min(12, len(flagged)))):
        when = datetime.fromtimestamp(times[0] + rng.random() * span, timezone.utc).isoformat()
        action = "freeze" if n % 2 else "false_positive"
        verdicts.append(Verdict.create(action, f"r{n % 3}", accounts=[order["account_id"]], orders=[order["order_id"]],
                                       event_time=when, verdict_id=f"v-{n}"))
    verdicts.append(verdicts[0])  # delivered twice: filed once
    merged = final_actions(events, verdicts, up_front=False)
    known = final_actions(events, verdicts, up_front=True)
    assert {o: d.action for o, d in merged.items()} == {o: d.action for o, d in known.items()}
    changed = [o for o in merged if merged[o].action != first[o].action]
    assert changed  # the verdicts did something
    frozen = [o for o in merged if merged[o].action.label == "freeze" and any(r.kind == "verdict" for r in merged[o].reasons)]
    assert frozen


def test_a_snoozed_cluster_rule_no_longer_escalates_the_account():
    events = list(simulate(3000, seed=5))
    engine = DecisionEngine(load_ruleset(str(RULES_SHIPPED)))
    records = ((str(n), e) for n, e in enumerate(events))
    escalated = [d for data, d in decide_records(engine, records, ReplayReport()) if data is None]
    assert escalated, "the simulated rings escalate earlier orders"
    target = escalated[0]
    rule = next(r.rule for r in target.reasons if isinstance(r.value, dict) and "escalated_by" in r.value)
    order = next(e for e in events if e["order_id"] == target.order_id)
    snooze = Verdict.create("false_positive", "bob", accounts=[target.account_id], rule=rule,
                            event_time=at(-1, base=datetime.fromisoformat(order["event_time"])),
                            expires_at=at(30 * 86400, base=datetime.fromisoformat(order["event_time"])))
    final = final_actions(events, [snooze], up_front=False)[target.order_id]
    assert rule not in {r.rule for r in final.reasons if isinstance(r.value, dict) and "escalated_by" in r.value}
