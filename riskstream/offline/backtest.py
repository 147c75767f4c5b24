"""Backtest: the same history through a new and a baseline rule set, side by side.

Both engines see every order in the same order, so the only difference
between their decisions is the rules.  Orders are compared by their final
decision (the last revision, after any escalation), as replay reports them.  The comparison shows how outcomes move
(a baseline -> new matrix), which rules hit more or less often, the orders
whose action changed, and, with labels, the metrics of both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import tee
from typing import Any, Iterable

from ..decisions import OUTCOME_LABELS, Decision
from ..engine import DecisionEngine
from .labels import LabelTally
from .replay import RecentOrders, ReplayReport, decide_records

MAX_CHANGES = 1000


@dataclass
class Comparison:
    new: ReplayReport
    baseline: ReplayReport
    moves: Counter = field(default_factory=Counter)  # (baseline action, new action) -> orders
    rule_hits: dict[str, Counter] = field(default_factory=dict)  # rule -> {"baseline": n, "new": n}
    changes: list[dict[str, Any]] = field(default_factory=list)
    changed: int = 0

    def to_dict(self) -> dict[str, Any]:
        rules = {
            rule: {"baseline": c["baseline"], "new": c["new"], "delta": c["new"] - c["baseline"]}
            for rule, c in sorted(self.rule_hits.items())
        }
        return {
            "orders": self.new.orders,
            "changed": self.changed,
            "new": self.new.to_dict(),
            "baseline": self.baseline.to_dict(),
            "moves": [
                {"baseline": b, "new": n, "orders": count}
                for (b, n), count in sorted(self.moves.items(), key=lambda kv: (OUTCOME_LABELS.index(kv[0][0]), OUTCOME_LABELS.index(kv[0][1])))
            ],
            "rules": rules,
            "changes": self.changes,
        }


def _hits(decision: Decision) -> set[str]:
    return {r.rule for r in decision.reasons} | {f"{r.rule} (shadow)" for r in decision.shadow}


def backtest(
    new: DecisionEngine,
    baseline: DecisionEngine,
    records: Iterable[tuple[str, Any]],
    *,
    label_field: str | None = None,
    max_changes: int = MAX_CHANGES,
    scoring: tuple[Any, Any] = (None, None),
) -> Comparison:
    """Decide every record with both engines and compare their final decisions.

    Each engine runs the replay path (:func:`~riskstream.offline.replay.decide_records`)
    over the same records, side by side.  With a graph, a decision may be
    escalated later (a new revision), so an order is compared once neither
    engine can revise it any more: the last revision counts, as in replay.
    ``scoring``: the anomaly model on the new and on the baseline engine
    (:class:`~riskstream.model.Scoring` each, or None for rules alone)."""
    reports = [ReplayReport(tally=LabelTally() if label_field else None, ruleset_version=e.version) for e in (new, baseline)]
    comparison = Comparison(new=reports[0], baseline=reports[1])
    new_scoring, base_scoring = scoring
    horizon = max(new.dedup_horizon, baseline.dedup_horizon)
    for engine in (new, baseline):  # both must call the same repeated order ids duplicates
        engine.keep_order_ids(horizon)
    mine, theirs = tee(records)  # both engines read the same records; tee holds only the gap between them
    sides = (decide_records(new, mine, reports[0], label_field, scoring=new_scoring),
             decide_records(baseline, theirs, reports[1], label_field, scoring=base_scoring))
    reach = max((e.graph.within for e in (new, baseline) if e.graph is not None), default=None)
    # Orders either engine may still escalate: order id -> [new decision, baseline decision, label]
    pending = RecentOrders(reach) if reach is not None else None
    while True:
        first = _next_order(sides[0], pending, 0)
        second = _next_order(sides[1], pending, 1)
        if first is None or second is None:
            if first is not None or second is not None:
                raise RuntimeError("the two engines saw different orders")  # same records, same de-duplication
            break
        (data, decision), (_, before) = first, second
        if decision.order_id != before.order_id:
            raise RuntimeError(f"the engines are out of step: {decision.order_id} vs {before.order_id}")
        entry = [decision, before, data.get(label_field) if label_field else None]
        if pending is None:  # no graph: nothing is revised later
            _compare(comparison, *entry, label_field, max_changes)
            continue
        for released in pending.add(max(new.watermark, baseline.watermark), decision.order_id, entry):
            _compare(comparison, *released, label_field, max_changes)
    for released in pending.drain() if pending is not None else ():
        _compare(comparison, *released, label_field, max_changes)
    return comparison


def _next_order(decisions, pending: RecentOrders | None, side: int):
    """The next ``(event mapping, decision)`` of an order, applying the escalations met on the way; None at the end."""
    for data, decision in decisions:
        if data is None:
            entry = pending.get(decision.order_id) if pending is not None else None
            if entry is not None:
                entry[side] = decision
            continue
        return data, decision
    return None


def _compare(comparison: Comparison, decision: Decision, before: Decision, label: Any, label_field: str | None,
             max_changes: int) -> None:
    comparison.moves[before.action.label, decision.action.label] += 1
    hits_new, hits_old = _hits(decision), _hits(before)
    for rule in hits_new | hits_old:
        counts = comparison.rule_hits.setdefault(rule, Counter())
        counts["new"] += rule in hits_new
        counts["baseline"] += rule in hits_old
    if before.action != decision.action:
        comparison.changed += 1
        if len(comparison.changes) < max_changes:
            comparison.changes.append(
                {
                    "order_id": decision.order_id,
                    "account_id": decision.account_id,
                    "baseline": before.action.label,
                    "new": decision.action.label,
                    "rules_added": sorted(hits_new - hits_old),
                    "rules_removed": sorted(hits_old - hits_new),
                    **({"label": label} if label_field else {}),
                }
            )
