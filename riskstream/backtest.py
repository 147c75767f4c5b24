"""Backtest: the same history through a new and a baseline rule set, side by side.

Both engines see every order in the same order, so the only difference
between their decisions is the rules.  The comparison shows how outcomes move
(a baseline -> new matrix), which rules hit more or less often, the orders
whose action changed, and, with labels, the metrics of both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from .decisions import OUTCOME_LABELS, Decision
from .engine import DecisionEngine
from .replay import ReplayReport, decide_records
from .metrics import LabelTally

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
    """Decide every record with both engines and compare.

    ``scoring``: the anomaly model on the new and on the baseline engine
    (:class:`~riskstream.model.Scoring` each, or None for rules alone)."""
    reports = [ReplayReport(tally=LabelTally() if label_field else None, ruleset_version=e.version) for e in (new, baseline)]
    comparison = Comparison(new=reports[0], baseline=reports[1])
    base_report = reports[1]
    new_scoring, base_scoring = scoring
    for data, decision in decide_records(new, records, reports[0], label_field, scoring=new_scoring):
        if data is None:
            continue  # an escalation of an earlier order: counted in the report, not compared here
        before = _decide_baseline(baseline, data, base_report, label_field, base_scoring)
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
                        **({"label": data.get(label_field)} if label_field else {}),
                    }
                )
    base_report.invalid = reports[0].invalid
    return comparison


def _decide_baseline(engine: DecisionEngine, data: dict, report: ReplayReport, label_field: str | None,
                     scoring: Any = None) -> Decision:
    # The new engine already validated and de-duplicated this order.  With the
    # model, the baseline scores one order at a time: the same scores as a batch.
    decided = decide_records(engine, [("", data)], report, label_field, scoring=scoring)
    decision = next(decided)[1]
    for _ in decided:  # let the report count the escalations this order caused
        pass
    return decision
