"""Plans on risk-signals carry pseudonyms and sealed fields, never an order's raw IP, phone or address."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest

from riskstream.engine import DecisionEngine
from riskstream.events import parse_order
from riskstream.rules import load_ruleset
from riskstream.settings import DEV_SECRET
from riskstream.sim import simulate
from riskstream.stream.stages import Decide, Screen
from riskstream.stream.stages.wire import PRIVATE_FIELDS, Sealer, open_order
from riskstream.testing import FakeClock


def test_sealed_values_open_only_with_their_key():
    sealer = Sealer(DEV_SECRET)
    for value in ("203.0.113.7", "+86 138 0013 8000", "上海市浦东新区世纪大道1号", {"city": "上海市", "street": "世纪大道1号"}):
        token = sealer.seal(value)
        assert token.startswith(("~s1:", "~j1:")) and orjson.dumps(value).decode().strip('"') not in token
        assert token == Sealer(DEV_SECRET).seal(value)  # deterministic: a plan sent again is the same plan
        assert Sealer(DEV_SECRET).open(token) == value
        with pytest.raises(ValueError, match="does not open"):
            Sealer(b"another key").open(token)
    token = sealer.seal("203.0.113.7")
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(ValueError):
        Sealer(DEV_SECRET).open(tampered)
    assert Sealer(DEV_SECRET).seal("203.0.113.7") != Sealer(DEV_SECRET).seal("203.0.113.8")


def test_plans_hold_no_raw_entity_values_and_decide_as_the_raw_order():
    ruleset = load_ruleset("rules")
    events = list(simulate(400, seed=5))
    events[7]["ip"] = "203.0.113.9"  # on the shipped blocked-ips range: the list needs the address itself
    screen = Screen(DecisionEngine(ruleset, clock=FakeClock()), 1, 1)
    out = screen.run((orjson.dumps(e), 0, n) for n, e in enumerate(events))
    plans = [plan for items in out.plans.values() for plan in items]
    assert len(plans) == len(events)
    wire = b"".join(orjson.dumps(plan) for plan in plans).decode()
    for event in events:
        for name in PRIVATE_FIELDS:
            value = event.get(name)
            if isinstance(value, str):
                assert value not in wire, (name, value)
    by_id = {e["order_id"]: e for e in events}
    decide = Decide(DecisionEngine(ruleset, clock=FakeClock()))
    for plan in plans:
        opened = open_order(plan["order"], decide.sealer)
        raw = by_id[opened["order_id"]]
        assert opened["ip"] == raw["ip"]  # sealed, opened again
        assert parse_order(opened).account_id == raw["account_id"]
    proxied = next(p for p in plans if p["order"]["order_id"] == events[7]["order_id"])
    view = decide.view_of(SimpleNamespace(plan=proxied))  # type: ignore[arg-type]
    assert view.event.ip == "203.0.113.9"
