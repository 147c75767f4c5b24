"""Helpers for tests of riskstream and of code built on it.

* :func:`make_order` - a valid ``riskstream.order/v1`` mapping with overrides;
* :func:`make_verdict` - a valid ``riskstream.verdict/v1`` verdict at a time after the sale opening;
* :class:`FakeClock` - a controllable decision clock;
* :func:`ruleset_from_yaml` - a rule set from YAML text held in memory;
* :func:`engine_for` - an engine on such a rule set with a fake clock;
* :data:`FLASH_SALE_YAML` - a flash sale S1 of FS-1 and FS-2, opening at
  :data:`BASE_TIME` for 30 minutes, one unit per person.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

from .engine import DecisionEngine
from .events import OrderEvent, parse_order
from .rules import RuleSet, ruleset_from_sources
from .verdicts import Verdict

CST = timezone(timedelta(hours=8))
BASE_TIME = datetime(2026, 11, 11, 20, 0, 0, tzinfo=CST)
_ids = itertools.count(1)

FLASH_SALE_YAML = """
sales:
  - id: S1
    skus: [FS-1, FS-2]
    start: "2026-11-11T20:00:00+08:00"
    end: "2026-11-11T20:30:00+08:00"
    per_person_limit: 1
"""


#: One velocity rule: more than 3 orders from one IP within an hour.
IP_BURST_YAML = """
rules:
  - id: ip_burst
    velocity: {key: [ip], window: 1h, metric: count}
    above: 3
    score: 10
"""


def at(seconds: float, base: datetime = BASE_TIME) -> str:
    """RFC 3339 text ``seconds`` after ``base`` (the default sale opening)."""
    return (base + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def make_order(t: float = 0.0, **fields: Any) -> dict[str, Any]:
    """An order event mapping at ``t`` seconds after ``BASE_TIME``; any field may be overridden.

    ``sku``/``quantity``/``unit_price`` shortcuts build a single item.
    """
    n = next(_ids)
    item = {
        "sku": fields.pop("sku", "SKU-000001"),
        "quantity": fields.pop("quantity", 1),
        "unit_price": fields.pop("unit_price", 99.0),
    }
    age = fields.pop("account_age", 400 * 86400.0)
    order: dict[str, Any] = {
        "order_id": f"t-{n:08d}",
        "event_time": at(t),
        "account_id": f"acct-{n}",
        "account_created_at": at(t - age),
        "items": [item],
        "ip": f"198.51.{n // 250 % 250}.{n % 250 + 1}",
        "device_id": f"dev-{n}",
        "phone": f"139{n:08d}",
        "payment_fingerprint": f"card-{n}",
        "shipping_address": f"上海市浦东新区世纪大道{n}号",
    }
    order.update(fields)
    return {k: v for k, v in order.items() if v is not None}


def make_verdict(action: str = "freeze", t: float = 0.0, reviewer: str = "alice", **fields: Any) -> Verdict:
    """A verdict at ``t`` seconds after ``BASE_TIME`` (``accounts=["acct-1"]`` unless it covers something else)."""
    if not any(fields.get(name) for name in ("accounts", "entities", "orders")):
        fields["accounts"] = ["acct-1"]
    return Verdict.create(action, reviewer, event_time=at(t), **fields)


def event(t: float = 0.0, **fields: Any) -> OrderEvent:
    return parse_order(make_order(t, **fields))


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = BASE_TIME.timestamp()):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ruleset_from_yaml(*texts: str) -> RuleSet:
    """A rule set from YAML texts, as if each were a file (``memory-N.yaml``)."""
    return ruleset_from_sources((f"memory-{n}.yaml", text) for n, text in enumerate(texts))


def engine_for(*texts: str, **options: Any) -> DecisionEngine:
    options.setdefault("clock", FakeClock())
    return DecisionEngine(ruleset_from_yaml(*texts), **options)
