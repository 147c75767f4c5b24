"""Live vs shadow outcomes: what a shadow rule set would have done to the orders the live one decided.

Each decision judged while a shadow rule set runs carries ``shadow_ruleset``
(its version, the action it would have given and the rules that hit).  Per
order the last revision is the live outcome; the shadow outcome is the one
recorded with the order's decision.  ``riskstream rules diff`` prints the
counts per outcome and the crossing of the two (which live holds the shadow
would allow, and so on).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from ..decisions import OUTCOME_LABELS

__all__ = ["compare_shadow", "format_shadow"]


def compare_shadow(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts over decision records: per outcome live and shadow, their crossing, the rules only the shadow hit."""
    last: dict[str, dict[str, Any]] = {}
    shadow: dict[str, dict[str, Any]] = {}
    for record in records:
        order = record.get("order_id")
        if order is None:
            continue
        if order not in last or record.get("revision", 1) >= last[order].get("revision", 1):
            last[order] = record
        if record.get("shadow_ruleset"):
            shadow[order] = record["shadow_ruleset"]
    live_counts: Counter = Counter()
    shadow_counts: Counter = Counter()
    crossing: Counter = Counter()
    only_shadow: Counter = Counter()
    versions: Counter = Counter()
    for order, judged in shadow.items():
        live = last[order]
        live_counts[live["action"]] += 1
        shadow_counts[judged["action"]] += 1
        crossing[(live["action"], judged["action"])] += 1
        versions[(live.get("ruleset_version"), judged.get("version"))] += 1
        live_rules = {r["rule"] for r in live.get("reasons", ())}
        only_shadow.update(set(judged.get("rules", ())) - live_rules)
    return {
        "orders": len(shadow),
        "decided": len(last),
        "versions": [{"live": lv, "shadow": sv, "orders": n} for (lv, sv), n in versions.most_common()],
        "live": {label: live_counts[label] for label in OUTCOME_LABELS},
        "shadow": {label: shadow_counts[label] for label in OUTCOME_LABELS},
        "changed": sum(n for (a, b), n in crossing.items() if a != b),
        "crossing": [{"live": a, "shadow": b, "orders": n} for (a, b), n in sorted(crossing.items()) if a != b],
        "rules_only_in_shadow": dict(only_shadow.most_common()),
    }


def format_shadow(summary: dict[str, Any]) -> str:
    """The summary as a short text table."""
    lines = [f"{summary['orders']:,} of {summary['decided']:,} decided orders judged by a shadow rule set"]
    for v in summary["versions"]:
        lines.append(f"  live {v['live']}  vs  shadow {v['shadow']}: {v['orders']:,} orders")
    lines.append(f"{'outcome':<10} {'live':>9} {'shadow':>9} {'change':>9}")
    for label in OUTCOME_LABELS:
        a, b = summary["live"][label], summary["shadow"][label]
        lines.append(f"{label:<10} {a:>9,} {b:>9,} {b - a:>+9,}")
    lines.append(f"orders whose outcome the shadow changes: {summary['changed']:,}")
    for c in summary["crossing"]:
        lines.append(f"  {c['live']:>9} -> {c['shadow']:<9} {c['orders']:,}")
    for rule, n in summary["rules_only_in_shadow"].items():
        lines.append(f"  shadow rule {rule}: {n:,} orders")
    return "\n".join(lines)
