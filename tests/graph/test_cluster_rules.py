"""Cluster rules in the rule language and the engine: person = cluster, decisions name the
cluster and its links, escalation of earlier orders by revision, replay output."""

import json

import orjson
import pytest
from click.testing import CliRunner

from riskstream import Outcome
from riskstream.cli import main
from riskstream.rules import RuleFileError
from riskstream.testing import (
    FLASH_SALE_YAML,
    engine_for,
    event,
    make_order,
    ruleset_from_yaml,
)

SALE = FLASH_SALE_YAML
HEADER = "ruleset: {version: t, thresholds: {review: 40, hold: 70, freeze: 150}}\n"
GRAPH = """
graph:
  links: [device, phone, payment]
  hub_accounts: 5
  escalate_within: 1h
"""
RING_RULE = """
rules:
  - id: ring
    cluster: {size: {ge: 3}, new_share: {ge: 0.5}, flash_orders: {ge: 3}}
    match: {flash: true}
    score: 100
    outcome: freeze
"""
LIMIT_RULE = """
rules:
  - id: person-limit
    purchase_limit: {per: person}
    score: 80
    outcome: hold
"""


def problems(*texts):
    with pytest.raises(RuleFileError) as info:
        ruleset_from_yaml(*texts)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("text, expected", [
    ("rules:\n  - id: r\n    cluster: {}\n    score: 1\n",
     "memory-0.yaml:3: rules[0].cluster: give at least one of size, new_share, flash_units, flash_orders, via"),
    ("rules:\n  - id: r\n    cluster:\n      sizes: {ge: 2}\n    score: 1\n",
     "memory-0.yaml:4: rules[0].cluster.sizes: unknown field"),
    ("rules:\n  - id: r\n    cluster: {size: {}}\n    score: 1\n",
     "memory-0.yaml:3: rules[0].cluster.size: give at least one of lt, le, gt, ge"),
    ("graph:\n  links: [ip, email]\n",
     "memory-0.yaml:2: graph.links[1]: Input should be"),
    ("graph:\n  hubs: {ip: 1}\n",
     "memory-0.yaml:2: graph.hubs.ip: Input should be greater than or equal to 2"),
    ("graph:\n  retention: 0s\n",
     "memory-0.yaml:2: graph.retention: must be longer than zero"),
    ("graph:\n  links: [ip, ip]\n",
     "memory-0.yaml:2: graph.links: links lists an entity kind twice"),
    ("rules:\n  - id: r\n    cluster: {flash_units: {gt: 2}}\n    score: 1\n",
     "memory-0.yaml:2: rules[0]: this rule works per sale, but no sales are defined"),
])
def test_graph_and_cluster_rule_mistakes_are_located(text, expected):
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_the_graph_section_is_given_once():
    found = problems("graph: {hub_accounts: 9}\n", "graph: {hub_accounts: 8}\n")
    assert found == ["memory-1.yaml:1: graph: the graph section is already given in memory-0.yaml"]


def test_no_graph_no_graph_step():
    engine = engine_for(HEADER, SALE, LIMIT_RULE)
    assert engine.ruleset.graph is None and engine.graph is None
    shared = {"device_id": "d1", "sku": "FS-1"}
    first, second = engine.decide(event(1, account_id="a", **shared)), engine.decide(event(2, account_id="b", **shared))
    assert first.action is second.action is Outcome.ALLOW  # person is the account
    assert second.cluster is None and "cluster" not in second.to_dict() and second.to_dict()["cluster_id"] is None


def test_a_cluster_rule_alone_brings_the_default_graph():
    ruleset = ruleset_from_yaml(HEADER, SALE, RING_RULE)
    assert ruleset.graph is not None and ruleset.graph.links == ["ip", "device", "phone", "payment", "address"]
    assert ruleset.rule("ring").kind == "cluster"
    assert ruleset.without_graph().graph is None and not ruleset.without_graph().rules


def test_per_person_limit_counts_the_cluster():
    engine = engine_for(HEADER, SALE, GRAPH, LIMIT_RULE)
    # a and b share a phone written two ways; c is unrelated
    a = engine.decide(event(1, account_id="a", sku="FS-1", phone="13800138000"))
    c = engine.decide(event(2, account_id="c", sku="FS-1", phone="13900139000"))
    b = engine.decide(event(3, account_id="b", sku="FS-1", phone="+86 138-0013-8000"))
    assert a.action is c.action is Outcome.ALLOW
    assert b.action is Outcome.HOLD
    reason = b.reasons[0]
    assert (reason.rule, reason.value, reason.threshold, reason.key) == ("person-limit", 2, 1, "cluster")
    assert b.cluster_id == b.cluster["id"] and b.cluster["size"] == 2
    assert b.cluster["links"][0]["kind"] == "phone" and b.cluster["links"][0]["accounts"] == 2
    assert "13800138000" not in json.dumps(b.to_dict())  # pseudonyms only
    assert engine.decide(event(4, account_id="b", sku="FS-2", phone="13800138000")).action is Outcome.ALLOW


def ring_orders(n=4, t0=0.0, device="emu-1", sku="FS-1", age=3600.0):
    return [event(t0 + k, account_id=f"r{k}", device_id=device, sku=sku, account_age=age) for k in range(n)]


def test_a_ring_is_frozen_together_and_its_first_orders_are_escalated():
    engine = engine_for(HEADER, SALE, GRAPH, RING_RULE)
    decisions = [engine.decide(e) for e in ring_orders()]
    assert [d.action for d in decisions] == [Outcome.ALLOW, Outcome.ALLOW, Outcome.FREEZE, Outcome.FREEZE]
    third = decisions[2]
    assert third.reasons[0].value == {"size": 3, "flash_orders": 3, "new_share": 1.0}
    assert third.cluster["size"] == 3 and third.cluster["links"] == [
        {"kind": "device", "entity": third.cluster["links"][0]["entity"], "accounts": 3}]
    escalated = engine.take_escalations()
    assert engine.take_escalations() == []
    assert [(d.order_id, d.revision, d.action) for d in escalated] == [
        (decisions[0].order_id, 2, Outcome.FREEZE), (decisions[1].order_id, 2, Outcome.FREEZE)]
    assert escalated[0].reasons[-1].value["escalated_by"] == third.order_id
    assert escalated[0].cluster_id == third.cluster_id
    assert escalated[0].account_id == "r0" and escalated[0].cluster["links"][0]["kind"] == "device"
    assert [(d.sale, d.amount) for d in escalated] == [(d.sale, d.amount) for d in decisions[:2]] == [("S1", 99.0)] * 2
    # the fourth order found nothing left to escalate
    assert all(d.revision == 1 for d in decisions)


def test_an_order_decided_after_a_later_trigger_is_escalated_by_it():
    """The stream's decide partitions run apart: a ring's trigger can reach the partition of a
    member's earlier order before that order is decided; the order is weighed against it then."""
    ring = engine_for(HEADER, SALE, GRAPH, RING_RULE)
    ring.graph.escalator.outbox = triggers = []  # published, not applied here
    decisions = [ring.decide(e) for e in ring_orders(5, t0=10)]
    assert [t.by for t in triggers] == [d.order_id for d in decisions[2:]] and "r0" in triggers[0].members
    other = engine_for(HEADER, SALE, GRAPH, RING_RULE)  # the partition that owns r0's earlier order
    for trigger in reversed(triggers):  # arriving out of event-time order
        other.escalate(trigger)
    assert other.take_escalations() == []  # it keeps no order of the ring yet
    late = other.decide(event(5, account_id="r0", device_id="emu-2", sku="FS-1", account_age=3600, order_id="late"))
    assert late.action is Outcome.ALLOW and late.revision == 1
    [escalated] = other.take_escalations()
    assert (escalated.order_id, escalated.revision, escalated.action) == ("late", 2, Outcome.FREEZE)
    assert escalated.reasons[-1].value["escalated_by"] == triggers[-1].by  # the first trigger to arrive
    assert escalated.cluster["links"] == [{"kind": "device"}]
    # an order later in event time than every trigger, or of an account no trigger names, is left alone
    after = other.decide(event(60, account_id="r0", device_id="emu-2", sku="FS-1", account_age=3600, order_id="after"))
    stranger = other.decide(event(6, account_id="z9", device_id="emu-3", sku="FS-1", account_age=3600, order_id="z"))
    assert after.action is stranger.action is Outcome.ALLOW and other.take_escalations() == []


def test_a_late_order_is_escalated_with_the_rules_of_the_trigger_as_in_replay():
    """A rule set published for the sale's open changes the thresholds.  A ring's trigger after the
    switch escalates a member's order from before it with the trigger's rules, whether the order
    was decided first (replay, in order) or after the trigger reached its partition (the stream)."""
    from datetime import datetime

    from riskstream.engine.switch import schedule_ruleset
    from riskstream.testing import at

    review_ring = RING_RULE.replace("outcome: freeze", "outcome: review")
    stricter = ruleset_from_yaml(HEADER.replace("hold: 70", "hold: 120"), SALE, GRAPH, review_ring)
    switch = datetime.fromisoformat(at(8)).timestamp()

    def engine():
        built = engine_for(HEADER, SALE, GRAPH, review_ring)
        schedule_ruleset(built, stricter, switch)
        return built

    member = dict(account_id="r0", device_id="emu-2", sku="FS-1", account_age=3600, order_id="early")
    in_order = engine()
    early = in_order.decide(event(5, **member))
    assert early.action is Outcome.ALLOW  # before the switch
    for e in ring_orders(5, t0=10):
        in_order.decide(e)
    replayed = {d.order_id: d for d in in_order.take_escalations()}["early"]
    assert replayed.action is Outcome.REVIEW  # 100 points: a hold before the switch, a review after it
    ring = engine()
    ring.graph.escalator.outbox = triggers = []
    for e in ring_orders(5, t0=10):
        ring.decide(e)
    late = engine()  # the partition that owns r0's earlier order, which it decides after the triggers
    for trigger in triggers:
        late.escalate(trigger)
    assert late.decide(event(5, **member)).ruleset_version == early.ruleset_version != stricter.version
    [escalated] = late.take_escalations()
    assert (escalated.action, escalated.ruleset_version) == (replayed.action, replayed.ruleset_version)


def test_a_late_order_is_weighed_only_against_triggers_of_rules_that_select_it():
    plain_rule = """
rules:
  - id: ring
    cluster: {size: {ge: 3}, new_share: {ge: 0.5}}
    match: {flash: true}
    score: 100
    outcome: freeze
  - id: plain-ring
    cluster: {size: {ge: 2}}
    match: {skus: [PLAIN]}
    score: 10
    outcome: hold
"""
    ring = engine_for(HEADER, SALE, GRAPH, plain_rule)
    ring.graph.escalator.outbox = triggers = []
    [ring.decide(e) for e in ring_orders(5, t0=10)]
    assert triggers and {t.rule for t in triggers} == {"ring"}
    other = engine_for(HEADER, SALE, GRAPH, plain_rule)
    for trigger in triggers:
        other.escalate(trigger)
    # kept for plain-ring, which selects it, and earlier than the ring's triggers, which do not
    plain = other.decide(event(5, account_id="r0", device_id="emu-2", sku="PLAIN", account_age=3600, order_id="p"))
    assert plain.action is Outcome.ALLOW and other.graph.escalator.last_kept
    assert other.take_escalations() == []


def test_established_accounts_sharing_a_device_are_not_a_ring():
    engine = engine_for(HEADER, SALE, GRAPH, RING_RULE)
    decisions = [engine.decide(e) for e in ring_orders(age=400 * 86400.0)]
    assert {d.action for d in decisions} == {Outcome.ALLOW}
    assert decisions[-1].cluster["size"] == 4 and engine.take_escalations() == []


def test_earlier_orders_outside_the_window_or_the_match_are_not_escalated():
    engine = engine_for(HEADER, SALE, GRAPH, RING_RULE)
    early = engine.decide(event(-7200, account_id="r0", device_id="emu-1", sku="X", account_age=7200))
    other = engine.decide(event(0, account_id="r1", device_id="emu-1", sku="NOT-FLASH", account_age=3600))
    [engine.decide(e) for e in ring_orders(3, t0=10)]
    escalated = {d.order_id for d in engine.take_escalations()}
    assert early.order_id not in escalated and other.order_id not in escalated
    assert len(escalated) == 2


def test_a_hub_does_not_glue_a_ring():
    via = RING_RULE.replace("flash_orders: {ge: 3}}", "flash_orders: {ge: 3}, via: [device, phone, payment]}")
    engine = engine_for(HEADER, SALE, GRAPH.replace("[device, phone, payment]", "[ip, device]"), via)
    decisions = [engine.decide(event(k, account_id=f"s{k}", ip="100.64.0.1", sku="FS-1", account_age=3600))
                 for k in range(20)]
    # up to the hub limit (5) the IP links like any entity, but `via` asks for a stronger link
    assert [d.cluster["size"] if d.cluster else 1 for d in decisions[:6]] == [1, 2, 3, 4, 5, 1]
    assert {d.action for d in decisions} == {Outcome.ALLOW} and engine.take_escalations() == []
    assert all(d.cluster is None for d in decisions[5:])  # a hub: recorded, never linking
    assert "ip:" + engine.keys.key("ip", "100.64.0.1") in engine.graph.index.hubs
    # the same crowd on one emulator device is a ring
    ring = [engine.decide(event(30 + k, account_id=f"d{k}", ip="100.64.0.1", device_id="emu", sku="FS-2",
                                account_age=3600)) for k in range(3)]
    assert ring[-1].action is Outcome.FREEZE and ring[-1].reasons[0].value["via"] == ["device"]
    assert len(engine.take_escalations()) == 2


def test_replay_writes_escalations_and_reports_final_decisions(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(HEADER + SALE + GRAPH + RING_RULE)
    rows = [make_order(k, account_id=f"r{k}", device_id="emu-1", sku="FS-1", account_age=3600, label=1)
            for k in range(3)]
    rows.append(make_order(5, account_id="shopper", sku="FS-2", label=0))
    source = tmp_path / "orders.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    result = CliRunner().invoke(main, ["replay", str(source), "--rules", str(rules), "--label-field", "label",
                                       "-o", str(tmp_path / "d.jsonl"), "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [(r["order_id"], r["revision"], r["action"]) for r in records] == [
        (rows[0]["order_id"], 1, "allow"), (rows[1]["order_id"], 1, "allow"), (rows[2]["order_id"], 1, "freeze"),
        (rows[0]["order_id"], 2, "freeze"), (rows[1]["order_id"], 2, "freeze"), (rows[3]["order_id"], 1, "allow")]
    assert records[3]["cluster"]["id"] == records[2]["cluster_id"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["orders"] == 4 and report["escalations"] == 2
    assert report["actions"] == {"allow": 1, "challenge": 0, "review": 0, "hold": 0, "freeze": 3}
    assert report["labels"]["blocked"] == {"precision": 1.0, "recall": 1.0, "count": 3}


def test_escalation_state_is_forgotten_once_out_of_reach():
    """Kept orders and triggers live for ``escalate_within`` of event time, no longer."""
    from riskstream.engine import DecisionEngine
    from riskstream.events import parse_order
    from riskstream.rules import load_ruleset
    from riskstream.sim import simulate

    engine = DecisionEngine(load_ruleset("rules"))
    escalator = engine.graph.escalator
    escalated = held = kept = 0
    for order in simulate(6000, seed=21):
        engine.decide(parse_order(order))
        escalated += len(engine.take_escalations())
        held, kept = max(held, len(escalator._triggers)), max(kept, escalator.size())
    assert escalated and held > 10 and kept > 10 and len(escalator._triggers) < held  # swept as it went
    engine.observe(engine.watermark + escalator.within + 2 * 3600)
    engine.sweep()
    assert escalator.size() == 0 and not escalator._triggers and not escalator._accounts
    assert not any(escalator._open.values())  # the orders waiting per rule went with them
