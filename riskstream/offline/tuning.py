"""One tuning run, end to end: evidence, proposal, rules directory, diff, backtest and report.

::

    result = tune_history("rules", lambda: read_records(["day.jsonl"]), "label", "tuned/")

reads the history twice - once for the evidence of the current rules (with
probes), once to backtest the proposed rules with the engine itself - and
writes the complete rules directory ``tuned/``; the HTML report is written by
:func:`~riskstream.offline.tune_report.write_html` from the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..engine import DecisionEngine
from ..rules import load_ruleset
from ..rules.ruleset import RuleSet
from .evidence import Policy, current_settings, gather
from .rulewrite import diff, write_rules
from .tune import RuleTuning, Targets, Tuner, final_actions, tier_table


@dataclass
class TuneResult:
    summary: dict[str, Any]
    tunings: list[RuleTuning]
    files: list[Path]
    diff: str


def tune_history(
    rules: str | Path,
    records: Callable[[], Iterable[tuple[str, Any]]],
    label_field: str,
    output: str | Path,
    *,
    split: float = 0.7,
    targets: Targets = Targets(),
    engine_for: Callable[[RuleSet], DecisionEngine] = DecisionEngine,
    scoring_for: Callable[[DecisionEngine], Any] | None = None,
    progress: Callable[[str], Callable[[Iterable], Iterable]] | None = None,
) -> TuneResult:
    """Tune the rules under ``rules`` on ``records()`` (called twice) and write the proposal to ``output``.

    ``progress(stage)`` may wrap each pass over the records (a progress bar).
    """
    wrap = progress or (lambda stage: (lambda it: it))
    ruleset = load_ruleset(rules)
    evidence = gather(engine_for, ruleset, wrap("gathering evidence")(records()), label_field, scoring_for)
    if not (evidence.labels >= 0).any():
        raise ValueError(f"no order carries a label in field {label_field!r} (1/true = abusive, 0/false = benign)")
    cut = evidence.split(split)
    tuner = Tuner(evidence, cut, targets)
    tunings = tuner.tune()
    proposal = {t.rule.id: t.proposed for t in tunings}
    agreement = float(np.mean(Policy(evidence).actions(current_settings(evidence)) == evidence.actions))
    if Path(output).resolve() == Path(rules).resolve():
        raise ValueError("the output directory must not be the input rules directory")
    files = write_rules(rules, output, {t.rule.id: (t.proposed, t.why) for t in tunings if t.changed})
    text = diff(rules, files)
    proposed_engine = engine_for(load_ruleset(output))
    actions = final_actions(proposed_engine, wrap("backtesting the proposal")(records()), len(evidence))
    late = tuner.late
    parts = tuner.parts()
    summary: dict[str, Any] = {
        "orders": len(evidence),
        "split": split,
        "split_at": datetime.fromtimestamp(cut, timezone.utc).isoformat(),
        "targets": {"block": targets.block, "review": targets.review, "min_hits": targets.min_hits},
        "current_ruleset": ruleset.version,
        "proposed_ruleset": proposed_engine.version,
        "policy_agreement": round(agreement, 6),
        **{name: {"orders": int(mask.sum()), "positives": int((evidence.labels[mask] == 1).sum())}
           for name, mask in parts.items()},
        "tiers": tuner.tiers(proposal),
        "backtest": {"current": tier_table(evidence.actions[late], evidence.labels[late]),
                     "proposed": tier_table(actions[late], evidence.labels[late])},
        "rules": [{"rule": t.rule.id, "changed": t.changed, "why": t.why,
                   "current": _setting(t.current), "proposed": _setting(t.proposed), **t.stats} for t in tunings],
    }
    return TuneResult(summary, tunings, files, text)


def _setting(setting: Any) -> dict[str, Any]:
    return {"score": setting.score, "outcome": setting.outcome.label if setting.outcome is not None else None,
            "above": setting.above}
