"""The worker's verdict stage without Kafka: filing revises decided orders, once; a rebuild then a sweep."""

import orjson

from riskstream import Outcome, Verdict
from riskstream.engine.verdicts import verdict_reasons
from riskstream.stream.stages import Decide, Entities, Screen
from riskstream.stream.verdicts import VerdictStage
from riskstream.testing import at, engine_for, make_order

RULES = """
ruleset: {version: t, thresholds: {review: 40, hold: 70}}
rules:
  - id: account-orders
    velocity: {key: [account], metric: count, window: 1h}
    above: 1
    outcome: hold
"""


def decide_stage():
    return Decide(engine_for(RULES))


def run(decide, orders):
    """Orders through screen, entities and decide on one partition; decisions, and what decide was fed."""
    screen, entities = Screen(engine_for(RULES), 1, 1), Entities(engine_for(RULES), 1)
    out = screen.run((orjson.dumps(o), 0, n) for n, o in enumerate(orders))
    plans = out.plans[0]
    signals = entities.run(out.touches[0]).get(0, [])
    return decide.run(plans, signals), (plans, signals)


def test_filing_a_verdict_revises_the_orders_it_covers_once():
    orders = [make_order(t, account_id=a) for t, a in ((0, "a"), (10, "a"), (20, "b"), (30, "c"))]
    decide = decide_stage()
    first, _ = run(decide, orders)
    assert [d.action for d in first] == [Outcome.ALLOW, Outcome.HOLD, Outcome.ALLOW, Outcome.ALLOW]
    stage = VerdictStage(decide)
    release = Verdict.create("release", "bob", orders=[orders[1]["order_id"]], event_time=at(40), verdict_id="v-1")
    freeze = Verdict.create("freeze", "alice", accounts=["c"], event_time=at(25), verdict_id="v-2")
    revised = {d.order_id: d for d in stage.file([release, freeze])}
    assert set(revised) == {orders[1]["order_id"], orders[3]["order_id"]}
    assert revised[orders[1]["order_id"]].action is Outcome.ALLOW and revised[orders[1]["order_id"]].revision == 2
    assert revised[orders[3]["order_id"]].action is Outcome.FREEZE  # c's order at 30 s, after the verdict's 25 s
    assert stage.file([release, freeze]) == []  # the same verdicts again: nothing changes
    later, _ = run(decide, [make_order(50, account_id="c")])
    assert later[0].action is Outcome.FREEZE and verdict_reasons(later[0])[0].value["reason"] == "verdict by alice"


def test_a_rebuild_ignores_the_lists_and_the_sweep_then_applies_them():
    orders = [make_order(t, account_id=a) for t, a in ((0, "a"), (10, "a"), (20, "b"))]
    freeze = Verdict.create("freeze", "alice", accounts=["b"], orders=[orders[0]["order_id"]], event_time=at(5))
    decide = decide_stage()
    stage = VerdictStage(decide)
    stage.file([freeze])
    stage.lists.suspended = True  # what the worker does while it rebuilds from risk-signals
    rebuilt, _ = run(decide, orders)
    stage.lists.suspended = False
    assert all(not verdict_reasons(d) for d in rebuilt)  # what was published before the verdict
    swept = {d.order_id: d for d in stage.sweep()}
    assert set(swept) == {orders[0]["order_id"], orders[2]["order_id"]}
    assert all(d.action is Outcome.FREEZE and d.revision == 2 for d in swept.values())
    assert stage.sweep() == []


def test_an_escalated_order_decided_again_is_capped_by_the_ring_its_escalation_named():
    """Decided again (a verdict, or a late order that grew a window), an order keeps its
    escalation; the mass-freeze cap then weighs the ring the escalation named, as it did and as
    replay does, not the order's own cluster when it was first decided (none here)."""
    from dataclasses import replace

    from riskstream import Reason
    from riskstream.engine.safety import capped

    decide = Decide(engine_for(RULES.replace("thresholds: {review: 40, hold: 70}",
                                             "thresholds: {review: 40, hold: 70}, safety: {max_cluster_accounts: 2}")))
    order = make_order(0, account_id="a")
    first, _ = run(decide, [order])
    ring = Reason("ring-flash", "cluster", {"size": 3, "escalated_by": "o-later"}, outcome=Outcome.FREEZE)
    # what escalation by a ring of three accounts made of it: a freeze the cap held
    escalated = replace(first[0], reasons=[*first[0].reasons, ring], action=Outcome.FREEZE, revision=2,
                        cluster_id="cl-ring", cluster={"id": "cl-ring", "size": 3, "links": [{"kind": "device"}]})
    decide.engine.safety.apply(escalated)
    assert escalated.action is Outcome.HOLD and capped(escalated)
    decide.done[order["order_id"]].decision = escalated
    assert decide.run((), (), again=[order["order_id"]]) == []  # still held by the cap: nothing new to publish
