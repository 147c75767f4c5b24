"""Live decisions against replay's: what a worker group must match, and the one known cause of a difference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..engine import DecisionEngine
from ..rules import load_ruleset

__all__ = ["describe_difference", "replay_final", "same_time_ties"]


def replay_final(rules: str, events: list[dict], verdicts: list | None = None,
                 rulesets: str | None = None) -> dict[str, Any]:
    """Replay's final decision (its last revision) per order id: what workers must match
    (``verdicts``: reviewers' verdicts merged in by time, as ``replay --verdicts`` does;
    ``rulesets``: a file of published rule sets, switched to at their effective times)."""
    from ..engine.switch import schedule_published
    from ..offline.replay import ReplayReport, decide_records
    from ..offline.verdicts import VerdictSchedule
    from ..rules.published import read_published_file

    engine = DecisionEngine(load_ruleset(rules))
    for published in read_published_file(rulesets) if rulesets else ():
        schedule_published(engine, published.role, published.ruleset, published.effective_ts)
    records = ((str(n), event) for n, event in enumerate(events))
    schedule = VerdictSchedule(engine, verdicts) if verdicts else None
    decided = decide_records(engine, records, ReplayReport(), verdicts=schedule)
    return {decision.order_id: decision for _, decision in decided}  # later revisions last


def describe_difference(records: list[dict], replayed: Any) -> dict[str, Any]:
    """What the worker published for an order beside what replay decided, to explain a difference."""
    return {
        "order_id": replayed.order_id,
        "live": [{"revision": r["revision"], "action": r["action"], "cluster_size": (r.get("cluster") or {}).get("size"),
                  "rules": {x["rule"]: x.get("value") for x in r["reasons"]}} for r in records],
        "replay": {"action": replayed.action.label, "cluster_size": (replayed.cluster or {}).get("size"),
                   "rules": {x.rule: x.value for x in replayed.reasons}},
    }


_TIE_FIELDS = ("account_id", "ip", "device_id", "phone", "payment_fingerprint", "shipping_address")


def same_time_ties(order_id: str, events: list[dict]) -> list[str]:
    """Orders with exactly the event time of ``order_id`` that share an entity with it.

    Such ties are the one known cause of a live decision differing from
    replay's: replay counts tied orders in file order, a worker in the order
    their touches reach the key's partition, which no single order of the file
    fixes when the tied orders come from different account partitions.
    """
    from ..engine.order_view import EntityKeys

    by_id = {e["order_id"]: e for e in events}
    order = by_id[order_id]
    keys = EntityKeys(b"ties")
    kinds = {"ip": "ip_prefix", "phone": "phone", "shipping_address": "address"}

    def entities(event: dict) -> set[tuple[str, object]]:
        out = set()
        for name in _TIE_FIELDS:
            value = event.get(name)
            if value is not None:
                kind = kinds.get(name)
                out.add((name, keys.key(kind, value) if kind else value))
        return out

    def instant(event: dict) -> float:
        return datetime.fromisoformat(event["event_time"]).timestamp()

    mine, when = entities(order), instant(order)
    return [e["order_id"] for e in events
            if e["order_id"] != order_id and instant(e) == when and entities(e) & mine]
