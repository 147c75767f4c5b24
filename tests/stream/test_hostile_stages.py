"""Hostile input at the stream stages (no Kafka): reused order ids, oversized dead letters, a key flood."""

import orjson

from riskstream.engine import DecisionEngine
from riskstream.events import MAX_EVENT_BYTES, REUSED_ID
from riskstream.offline.replay import ReplayReport, decide_records
from riskstream.rules import load_ruleset
from riskstream.stream.stages import MAX_DEAD_BYTES, DeadLetter, Decide, Entities, Screen, reused_letters
from riskstream.testing import IP_BURST_YAML, FakeClock, engine_for, make_order

RULES = load_ruleset("rules").without_graph()


def screen(ruleset=RULES, **options) -> Screen:
    return Screen(DecisionEngine(ruleset, clock=FakeClock(), **options), 4, 4)


def test_an_order_id_reused_with_other_content_is_a_dead_letter_and_a_repeat_is_applied_once():
    stage = screen()
    first = make_order(account_id="a")
    other = {**first, "items": [{"sku": "SKU-9", "quantity": 9, "unit_price": 1.0}]}
    out = stage.run([(orjson.dumps(first), 0, 0), (orjson.dumps(first), 0, 1), (orjson.dumps(other), 0, 2)])
    assert out.duplicates == 1 and sum(len(p) for p in out.plans.values()) == 1
    (dead,) = out.dead
    assert (dead.reason, dead.field, dead.offset) == (REUSED_ID, "order_id", 2) and dead.value == orjson.dumps(other)


def test_a_restarted_screen_remembers_contents_too():
    first = make_order(account_id="a")
    stage = screen()
    stage.restore([orjson.dumps(first)])
    out = stage.run([(orjson.dumps({**first, "ip": "203.0.113.1"}), 0, 5), (orjson.dumps(first), 0, 6)])
    assert [d.reason for d in out.dead] == [REUSED_ID] and out.duplicates == 1


def test_the_decide_stage_refuses_an_id_reused_across_account_partitions():
    decide = Decide(DecisionEngine(RULES, clock=FakeClock()))
    first, other = make_order(account_id="a"), make_order(account_id="b")
    other["order_id"] = first["order_id"]
    assert decide.run([{"order": first, "trackers": []}], []) and decide.take_reused() == []
    assert decide.run([{"order": first, "trackers": []}], []) == []  # delivered again
    assert decide.run([{"order": other, "trackers": []}], []) == [] and decide.take_reused() == [other]

    class Message:
        partition, offset = 3, 17

    (dead,) = reused_letters([other], Message)
    assert dict(dead.headers("signals"))["reason"] == REUSED_ID.encode() and orjson.loads(dead.value) == other


def test_replay_calls_a_reused_id_invalid_as_the_stream_dead_letters_it():
    first = make_order(account_id="a")
    rows = [first, dict(first), {**first, "ip": "203.0.113.1"}]
    report = ReplayReport()
    decided = list(decide_records(DecisionEngine(RULES, clock=FakeClock()), enumerate(rows), report))
    assert len(decided) == 1 and report.duplicates == 1 and report.invalid == 1
    assert report.invalid_examples[0]["error"] == REUSED_ID and report.invalid_examples[0]["field"] == "order_id"


def test_an_order_stamped_ahead_of_the_clock_is_a_dead_letter():
    out = screen().run([(orjson.dumps(make_order(event_time="2099-01-01T00:00:00Z")), 0, 0)])
    assert [d.field for d in out.dead] == ["event_time"] and "ahead of the clock" in out.dead[0].reason


def test_an_oversized_dead_letter_is_cut_to_fit_a_producer_request():
    raw = b"{" + b" " * (MAX_EVENT_BYTES + 40_000) + b"}"
    (dead,) = screen().run([(raw, 1, 9)]).dead
    assert len(dead.value) == MAX_DEAD_BYTES and dead.value == raw[:MAX_DEAD_BYTES]
    assert dict(dead.headers("orders"))["original_size"] == str(len(raw)).encode()
    small = DeadLetter(b"x", "r", None, 0, 0)
    assert small.value == b"x" and "original_size" not in dict(small.headers("orders"))


def test_a_flood_of_distinct_ips_keeps_the_entities_stage_bounded():
    engine = engine_for(IP_BURST_YAML, window_key_cap=500)
    entities = Entities(engine, 4)
    front = Screen(engine_for(IP_BURST_YAML, window_key_cap=500), 4, 4)
    for start in range(0, 20_000, 1000):
        orders = [make_order(n * 0.01, ip=f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
                  for n in range(start, start + 1000)]
        out = front.run((orjson.dumps(o), 0, n) for n, o in enumerate(orders, start))
        for touches in out.touches.values():
            entities.run(touches)
    assert all(len(t.window) <= 500 for t in engine.trackers)
    assert len(entities.ledger.keys) <= 500 * len(engine.trackers)
    evictions = entities.evictions()
    assert evictions["touch-ledger"] > 0 and sum(v for k, v in evictions.items() if k.startswith("window:")) > 19_000
