"""Verdict lists in the engine: deny, allow and snooze entries by event time, idempotent by verdict id."""

from riskstream import Outcome
from riskstream.engine.verdicts import verdict_reasons
from riskstream.testing import at, engine_for, event, make_verdict

RULES = """
ruleset: {version: t, thresholds: {review: 40, hold: 70, freeze: 150}}
rules:
  - id: device-accounts
    velocity: {key: [device], metric: distinct, of: account, window: 24h}
    above: 1
    outcome: hold
  - id: big-order
    match: {quantity: {gt: 4}}
    score: 40
"""


def verdict(action, t, **fields):
    fields.setdefault("verdict_id", f"v-{action}-{t}")
    return make_verdict(action, t, **fields)


def test_a_frozen_account_is_frozen_from_the_verdict_time_on_with_the_reviewer_named():
    engine = engine_for(RULES)
    assert engine.add_verdict(verdict("freeze", 100, accounts=["a"], case_id="c-1"))
    before = engine.decide(event(99, account_id="a"))
    after = engine.decide(event(100, account_id="a"))
    other = engine.decide(event(101, account_id="b"))
    assert before.action is Outcome.ALLOW and not verdict_reasons(before)
    assert after.action is Outcome.FREEZE and other.action is Outcome.ALLOW
    (reason,) = verdict_reasons(after)
    assert reason.to_dict() == {"rule": "verdict", "kind": "verdict", "key": "account", "outcome": "freeze",
                                "value": {"reason": "verdict by alice", "verdict_id": "v-freeze-100",
                                          "action": "freeze", "case_id": "c-1"}}


def test_a_frozen_entity_is_keyed_by_the_pseudonym_the_engine_holds():
    engine = engine_for(RULES)
    device = engine.view(event(0, device_id="emu-1")).entity("device")
    engine.add_verdict(verdict("freeze", 0, entities=[("device", device)]))
    assert engine.decide(event(5, device_id="emu-1", account_id="x")).action is Outcome.FREEZE
    assert engine.decide(event(6, device_id="emu-2", account_id="y")).action is Outcome.ALLOW


def test_the_same_verdict_twice_is_filed_once():
    engine = engine_for(RULES)
    freeze = verdict("freeze", 0, accounts=["a"])
    assert engine.add_verdict(freeze) and not engine.add_verdict(freeze)
    assert engine.verdicts.size()["verdicts"] == 1
    assert len(verdict_reasons(engine.decide(event(1, account_id="a")))) == 1


def test_a_freeze_with_an_expiry_ends_and_a_release_lifts_it():
    engine = engine_for(RULES)
    engine.add_verdict(verdict("freeze", 0, accounts=["a", "b"], expires_at=at(100)))
    engine.add_verdict(verdict("release", 50, accounts=["b"], reviewer="lead"))
    assert engine.decide(event(10, account_id="a")).action is Outcome.FREEZE
    assert engine.decide(event(100, account_id="a")).action is Outcome.ALLOW  # expired
    assert engine.decide(event(40, account_id="b")).action is Outcome.FREEZE
    released = engine.decide(event(60, account_id="b", quantity=9))
    assert released.action is Outcome.REVIEW and not verdict_reasons(released)  # the rules decide again


def test_a_release_with_an_expiry_allows_whatever_the_rules_say_until_then():
    engine = engine_for(RULES)
    engine.decide(event(0, account_id="x", device_id="d"))
    engine.add_verdict(verdict("release", 5, accounts=["a"], expires_at=at(60)))
    allowed = engine.decide(event(10, account_id="a", device_id="d"))  # a second account on the device: hold
    assert allowed.action is Outcome.ALLOW and {r.rule for r in allowed.reasons} == {"device-accounts", "verdict"}
    assert engine.decide(event(60, account_id="a", device_id="d")).action is Outcome.HOLD


def test_a_false_positive_snoozes_one_rule_for_the_entity_until_expiry():
    engine = engine_for(RULES)
    device = engine.view(event(0, device_id="d")).entity("device")
    engine.decide(event(0, account_id="x", device_id="d"))
    engine.add_verdict(verdict("false_positive", 5, entities=[("device", device)], rule="device-accounts",
                               expires_at=at(3600)))
    snoozed = engine.decide(event(10, account_id="a", device_id="d", quantity=9))
    assert snoozed.action is Outcome.REVIEW  # big-order still fires; device-accounts is snoozed
    assert [r.rule for r in snoozed.reasons] == ["big-order", "verdict"]
    assert snoozed.reasons[1].outcome is None and snoozed.reasons[1].value["snoozed"] == "device-accounts"
    assert engine.decide(event(3600, account_id="b", device_id="d")).action is Outcome.HOLD  # expired


def test_the_latest_verdict_wins_whatever_order_they_are_filed_in():
    decisions = []
    for order in ([0, 1], [1, 0]):
        engine = engine_for(RULES)
        given = [verdict("freeze", 10, accounts=["a"]), verdict("release", 20, accounts=["a"], expires_at=at(500))]
        for n in order:
            engine.add_verdict(given[n])
        decisions.append([engine.decide(event(t, account_id="a")).action for t in (5, 15, 25, 600)])
    assert decisions[0] == decisions[1] == [Outcome.ALLOW, Outcome.FREEZE, Outcome.ALLOW, Outcome.ALLOW]


def test_an_order_named_by_a_verdict_is_revised_whatever_its_time():
    engine = engine_for(RULES)
    first = engine.decide(event(0, account_id="x", device_id="d"))
    held = engine.decide(event(1, account_id="a", device_id="d"))
    assert held.action is Outcome.HOLD
    release = verdict("release", 30, orders=[held.order_id], reviewer="bob")
    engine.add_verdict(release)
    view = engine.view(event(1, account_id="a", device_id="d", order_id=held.order_id))
    assert engine.verdicts.covers(release, view)
    revised = engine.revise(view, held)
    assert revised.action is Outcome.ALLOW and revised.revision == 2
    assert (revised.sale, revised.amount) == (held.sale, held.amount) == (None, 99.0)
    assert verdict_reasons(revised)[0].value["reason"] == "verdict by bob"
    assert engine.revise(view, revised) is None  # nothing more to change
    assert engine.revise(engine.view(event(0, account_id="x", device_id="d", order_id=first.order_id)), first) is None
