"""The decision engine: every rule kind, the policy, and the record it produces."""

import pytest

from riskstream import Outcome, parse_order
from riskstream.testing import FLASH_SALE_YAML, FakeClock, engine_for, event

SALE = FLASH_SALE_YAML
THRESHOLDS = "ruleset: {version: t, thresholds: {challenge: 10, review: 40, hold: 70, freeze: 150}}\n"


def decide_all(engine, events):
    return [engine.decide(e) for e in events]


def test_velocity_count_per_account_with_the_limit_as_threshold():
    engine = engine_for(THRESHOLDS, """
rules:
  - id: account-orders
    velocity: {key: [account], metric: count, window: 24h}
    above: 2
    outcome: hold
""")
    decisions = decide_all(engine, [event(t, account_id="a") for t in (0, 10, 20)])
    assert [d.action for d in decisions] == [Outcome.ALLOW, Outcome.ALLOW, Outcome.HOLD]
    reason = decisions[2].reasons[0]
    assert (reason.rule, reason.kind, reason.value, reason.threshold, reason.window, reason.key) == (
        "account-orders", "velocity", 3, 2, "24h", "account")
    assert engine.decide(event(86400 + 10.5, account_id="a")).action is Outcome.ALLOW  # 0 and 10 slid out


def test_velocity_sum_of_quantity_and_amount_with_a_sku_filter():
    engine = engine_for(THRESHOLDS, """
rules:
  - id: ip-units
    velocity: {key: [ip], metric: quantity, window: 1h, where: {skus: [FS-1]}}
    above: 4
    score: 80
  - id: ip-amount
    velocity: {key: [ip], metric: amount, window: 1h}
    above: 1000
    score: 40
""")
    first = engine.decide(event(0, ip="10.0.0.1", items=[{"sku": "FS-1", "quantity": 3, "unit_price": 100},
                                                         {"sku": "X", "quantity": 9, "unit_price": 1}]))
    assert first.action is Outcome.ALLOW  # 3 units of FS-1 only; the X units do not count
    second = engine.decide(event(60, ip="10.0.0.1", sku="FS-1", quantity=2, unit_price=400))
    assert {r.rule: r.value for r in second.reasons} == {"ip-units": 5, "ip-amount": 1109}
    assert second.score == 120 and second.action is Outcome.HOLD
    assert engine.decide(event(61, ip="10.0.0.2", sku="X")).reasons == []  # another IP, and not FS-1


def test_distinct_accounts_per_device_and_composite_keys():
    engine = engine_for(THRESHOLDS, """
rules:
  - id: device-accounts
    velocity: {key: [device], metric: distinct, of: account, window: 24h}
    above: 2
    outcome: hold
  - id: address-sku-orders
    velocity: {key: [address, sku], metric: count, window: 24h}
    above: 1
    score: 15
""")
    same = {"device_id": "emu-1", "shipping_address": "北京市海淀区中关村大街27号"}
    d = decide_all(engine, [event(0, account_id="a", sku="P1", **same), event(1, account_id="a", sku="P2", **same),
                            event(2, account_id="b", sku="P1", **same), event(3, account_id="c", sku="P3", **same)])
    assert [x.action for x in d] == [Outcome.ALLOW, Outcome.ALLOW, Outcome.CHALLENGE, Outcome.HOLD]
    assert [r.value for r in d[2].reasons] == [2]  # address+P1 seen twice
    assert d[3].reasons[0].value == 3 and d[3].reasons[0].key == "device"


def test_ip_prefix_key_groups_a_slash_24():
    engine = engine_for(THRESHOLDS, """
rules:
  - id: prefix-accounts
    velocity: {key: [ip_prefix], metric: distinct, of: account, window: 1h}
    above: 2
    score: 40
""")
    d = decide_all(engine, [event(0, ip="10.1.2.3", account_id="a"), event(1, ip="10.1.2.200", account_id="b"),
                            event(2, ip="10.1.3.1", account_id="c"), event(3, ip="10.1.2.9", account_id="c")])
    assert [x.action for x in d] == [Outcome.ALLOW] * 3 + [Outcome.REVIEW]


def test_phone_written_differently_is_one_phone():
    engine = engine_for(THRESHOLDS, """
rules:
  - id: phone-accounts
    velocity: {key: [phone], metric: distinct, of: account, window: 24h}
    above: 2
    score: 40
""")
    phones = ["+86 138 0013 8000", "13800138000", "138-0013-8000"]
    d = decide_all(engine, [event(n, phone=p, account_id=f"a{n}") for n, p in enumerate(phones)])
    assert d[-1].action is Outcome.REVIEW and d[-1].reasons[0].value == 3


def test_purchase_limit_per_person_per_sku_over_the_sale():
    engine = engine_for(THRESHOLDS, SALE, """
rules:
  - id: limit
    purchase_limit: {per: person}
    outcome: hold
""")
    d = decide_all(engine, [
        event(1, account_id="a", sku="FS-1"),
        event(2, account_id="a", sku="FS-2"),  # another SKU: its own limit
        event(900, account_id="a", sku="FS-1"),  # 15 minutes later, same sale
        event(3, account_id="b", sku="FS-1", quantity=2),  # over the limit in one order
        event(-60, account_id="c", sku="FS-1"),  # before the sale: not a sale order
        event(-30, account_id="c", sku="FS-1"),
    ])
    assert [x.action for x in d] == [Outcome.ALLOW, Outcome.ALLOW, Outcome.HOLD, Outcome.HOLD, Outcome.ALLOW, Outcome.ALLOW]
    assert (d[2].reasons[0].value, d[2].reasons[0].threshold, d[2].reasons[0].window) == (2, 1, "sale")


def test_sale_id_on_the_event_wins_over_timing():
    engine = engine_for(THRESHOLDS, SALE, """
rules:
  - id: opening
    match: {since_sale_start: {lt: 5s}, flash: true}
    score: 40
""")
    assert engine.decide(event(2, sku="FS-1")).action is Outcome.REVIEW
    assert engine.decide(event(6, sku="FS-1")).action is Outcome.ALLOW
    assert engine.decide(event(2, sku="OTHER")).action is Outcome.ALLOW
    # a sale order that claims its sale outside the window still belongs to it
    late = engine.decide(event(-10, sku="FS-1", sale_id="S1"))
    assert late.action is Outcome.REVIEW and late.reasons[0].value == {"since_sale_start": -10.0}


def test_predicates_on_account_age_quantity_and_amount():
    engine = engine_for(THRESHOLDS, """
rules:
  - id: new-big
    match: {account_age: {lt: 10m}, quantity: {ge: 3}, amount: {gt: 100}}
    outcome: freeze
""")
    assert engine.decide(event(0, account_age=599, quantity=3, unit_price=50)).action is Outcome.FREEZE
    assert engine.decide(event(0, account_age=600, quantity=3, unit_price=50)).action is Outcome.ALLOW
    assert engine.decide(event(0, account_age=5, quantity=2, unit_price=90)).action is Outcome.ALLOW
    # an unknown account age never satisfies an account_age condition
    assert engine.decide(event(0, account_created_at=None, quantity=3, unit_price=50)).action is Outcome.ALLOW


def test_block_and_allow_lists():
    engine = engine_for(THRESHOLDS, """
lists:
  - {id: bad-ips, entity: ip, entries: ["203.0.113.0/24", "2001:db8::/64", "192.0.2.7"]}
  - {id: bad-phones, entity: phone, entries: ["+86 138 0013 8000"]}
  - {id: vip, entity: account, entries: [boss]}
rules:
  - {id: bad-ip, list: bad-ips, outcome: hold}
  - {id: bad-phone, list: bad-phones, outcome: freeze}
  - {id: vip, list: vip, outcome: allow}
  - {id: big, match: {quantity: {gt: 5}}, outcome: hold}
""")
    assert engine.decide(event(0, ip="203.0.113.77")).action is Outcome.HOLD
    assert engine.decide(event(0, ip="::ffff:203.0.113.77")).action is Outcome.HOLD
    assert engine.decide(event(0, ip="2001:db8::1:2")).action is Outcome.HOLD
    assert engine.decide(event(0, ip="192.0.2.7")).action is Outcome.HOLD
    assert engine.decide(event(0, ip="192.0.2.8")).action is Outcome.ALLOW
    assert engine.decide(event(0, phone="0086 138-0013-8000")).action is Outcome.FREEZE
    # the allow list lets a big order through, but not past a block list
    assert engine.decide(event(0, account_id="boss", quantity=9)).action is Outcome.ALLOW
    both = engine.decide(event(0, account_id="boss", quantity=9, ip="203.0.113.1"))
    assert both.action is Outcome.HOLD and {r.rule for r in both.reasons} == {"bad-ip", "vip", "big"}


def test_scores_add_up_to_thresholds_and_forced_outcomes_win():
    engine = engine_for(THRESHOLDS, """
rules:
  - {id: a, match: {quantity: {ge: 2}}, score: 30}
  - {id: b, match: {quantity: {ge: 3}}, score: 45}
  - {id: c, match: {quantity: {ge: 4}}, score: 80}
  - {id: d, match: {quantity: {ge: 5}}, outcome: review}
""")
    actions = [engine.decide(event(0, quantity=q)).action for q in (1, 2, 3, 4, 5)]
    assert actions == [Outcome.ALLOW, Outcome.CHALLENGE, Outcome.HOLD, Outcome.FREEZE, Outcome.FREEZE]


def test_shadow_rules_are_reported_but_never_change_the_action():
    engine = engine_for(THRESHOLDS, """
rules:
  - {id: live, match: {quantity: {ge: 2}}, score: 40}
  - {id: trial, mode: shadow, match: {quantity: {ge: 2}}, outcome: freeze}
""")
    d = engine.decide(event(0, quantity=2))
    assert d.action is Outcome.REVIEW and [r.rule for r in d.reasons] == ["live"]
    assert [r.rule for r in d.shadow] == ["trial"] and d.shadow_action is Outcome.FREEZE
    record = d.to_dict()
    assert record["shadow_action"] == "freeze" and record["action"] == "review"


def test_decision_record_shape():
    clock = FakeClock(1_800_000_000.25)
    engine = engine_for(THRESHOLDS, "rules:\n  - {id: big, match: {quantity: {ge: 2}}, score: 40}\n", clock=clock)
    record = engine.decide(event(0, order_id="o-1", account_id="a-1", quantity=2)).to_dict()
    assert record == {
        "schema": "riskstream.decision/v1",
        "order_id": "o-1",
        "account_id": "a-1",
        "action": "review",
        "score": 40.0,
        "reasons": [{"rule": "big", "kind": "match", "value": {"quantity": 2}, "score": 40.0}],
        "ruleset_version": engine.version,
        "model_version": None,
        "model_score": None,
        "cluster_id": None,
        "event_time": "2026-11-11T20:00:00.000+08:00",
        "decided_at": "2027-01-15T08:00:00.250Z",
        "revision": 1,
        "sale": None,
        "amount": 198.0,
    }


def test_entity_state_holds_pseudonyms_not_raw_values():
    engine = engine_for(THRESHOLDS, """
rules:
  - id: ip-orders
    velocity: {key: [ip], metric: count, window: 1h}
    above: 5
    score: 1
""")
    engine.decide(event(0, ip="10.9.8.7"))
    keys = engine.trackers[0].window.keys()
    assert len(keys) == 1 and "10.9.8.7" not in keys[0]
    other = engine_for(THRESHOLDS, "rules: []\n", secret=b"another key")
    assert other.keys.key("ip", "10.9.8.7") != keys[0]


def test_invalid_ip_is_an_event_error_only_when_a_rule_needs_it():
    from riskstream.events import EventError

    no_ip_rules = engine_for(THRESHOLDS, "rules: []\n")
    assert no_ip_rules.decide(event(0, ip="not-an-ip")).action is Outcome.ALLOW
    engine = engine_for(THRESHOLDS, """
rules:
  - {id: ip, velocity: {key: [ip], window: 1h}, above: 5, score: 1}
""")
    with pytest.raises(EventError) as info:
        engine.decide(event(0, ip="999.1.1.1"))
    assert info.value.field == "ip"


def test_missing_entities_are_not_counted():
    engine = engine_for(THRESHOLDS, """
rules:
  - {id: dev, velocity: {key: [device], metric: distinct, of: account, window: 1h}, above: 1, score: 40}
""")
    d = decide_all(engine, [event(n, device_id=None, account_id=f"a{n}") for n in range(5)])
    assert all(x.action is Outcome.ALLOW for x in d)
    assert engine.state_size()["entries"] == 0


def test_duplicates_are_detected_and_not_counted_twice():
    from riskstream.offline.replay import replay

    engine = engine_for(THRESHOLDS, """
rules:
  - {id: acct, velocity: {key: [account], window: 1h}, above: 1, outcome: hold}
""")
    first = event(0, account_id="a", order_id="same")
    assert engine.decide(first).action is Outcome.ALLOW
    assert engine.seen("same")
    import orjson

    from riskstream.testing import make_order

    records = [("x:1", orjson.dumps(make_order(1, account_id="a", order_id="same"))),
               ("x:2", orjson.dumps(make_order(2, account_id="a", order_id="other")))]
    report = replay(engine, records)
    assert report.duplicates == 1 and report.orders == 1
    assert report.actions["hold"] == 1  # "same" + "other": 2 orders, not 3


def test_out_of_order_orders_see_exact_windows():
    engine = engine_for(THRESHOLDS, """
rules:
  - {id: acct, velocity: {key: [account], window: 1h}, above: 2, outcome: hold}
""")
    seen = []
    for t in (0, 100, 50, 3650, 3601, 3700):  # 50 and 3601 arrive late
        d = engine.decide(event(t, account_id="a"))
        seen.append(d.reasons[0].value if d.reasons else None)
    # 50 sees (-3550, 50] = {0, 50}, not 100 which is later; 3650 sees (50, 3650] = {100, 3650};
    # the late 3601 sees (1, 3601] = {50, 100, 3601}; 3700 sees (100, 3700] = {3601, 3650, 3700}
    assert seen == [None, None, None, None, 3, 3]


def test_same_input_same_decisions():
    from riskstream.engine import DecisionEngine
    from riskstream.rules import load_ruleset
    from riskstream.sim import simulate

    ruleset = load_ruleset("rules")

    def run():
        engine = DecisionEngine(ruleset, clock=FakeClock())
        return [engine.decide(parse_order(e)).to_dict() for e in simulate(3000, seed=5)]

    first = run()
    assert first == run()
    assert any(d["action"] != "allow" for d in first)


def test_a_decision_names_the_sale_the_engine_matched_and_the_order_amount():
    engine = engine_for(THRESHOLDS, SALE)
    by_id = engine.decide(event(60, sale_id="S1", sku="FS-1", amount=499.5, currency="CNY"))
    by_sku = engine.decide(event(61, sku="FS-2", quantity=2, unit_price=10.25))  # no sale_id: a running sale's SKU
    unknown = engine.decide(event(62, sale_id="S9", sku="X"))  # a sale the rule set does not know
    after = engine.decide(event(3 * 3600, sku="FS-1"))  # the sale is over
    assert [(d.sale, d.amount, d.currency) for d in (by_id, by_sku, unknown, after)] == [
        ("S1", 499.5, "CNY"), ("S1", 20.5, None), (None, 99.0, None), (None, 99.0, None)]
    assert by_id.to_dict()["sale"] == "S1" and by_id.to_dict()["amount"] == 499.5
    assert by_id.to_dict()["currency"] == "CNY" and "currency" not in by_sku.to_dict()


def test_every_record_of_a_replayed_sale_fits_the_published_decision_schema(replayed):
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[2] / "riskstream" / "schemas"
                         / "decision-v1.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == "riskstream.decision/v1"
    validator = jsonschema.Draft202012Validator(schema)
    _, decisions = replayed
    for record in decisions:
        validator.validate(record)
    assert {r["sale"] for r in decisions} >= {None} and any(r["sale"] for r in decisions)
    assert all(r["amount"] > 0 and r["currency"] == "CNY" for r in decisions)
    assert any(r["revision"] > 1 for r in decisions)  # escalations carry them too
    assert not validator.is_valid(dict(decisions[0], amount="12"))
    assert not validator.is_valid(dict(decisions[0], sale=""))
