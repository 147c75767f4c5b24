"""What each rule saw on labelled history, gathered in one replay, for tuning.

:func:`gather` runs the replay engine once over the history with the rule set
as it is, plus a *probe* beside each velocity rule: a shadow copy whose
threshold is 0, so the decision of every order the rule's window counts
carries the window's value.  From one pass, then, every order has

* the rules that hit it (its last revision's reasons, after any escalation),
* the value of each velocity rule's window (NaN when the window did not count
  the order), so that the hits under any other threshold are known,
* for each rule on the model's score (:func:`score_rule`: ``match:
  {model_score: {ge: X}}``, with or without other conditions), the order's
  model score where the rule's other conditions held (its probe's threshold
  is 0), so the model score is one more signal whose threshold can be tuned, and
* its label, event time and final action under the current rules.

:class:`Policy` recomputes the engine's policy (scores add up, thresholds map
the total, forced outcomes raise it, allow lists let through) on whole arrays,
so a proposal's decisions are a few numpy operations, not another replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from ..decisions import Outcome
from ..engine import DecisionEngine
from ..rules.model import Rule, Thresholds
from ..rules.ruleset import RuleSet
from .labels import parse_label
from .replay import ReplayReport, decide_records, fewer_collections

if TYPE_CHECKING:
    from ..model.scorer import Scoring

PROBE = ":probe"  #: suffix of a probe's rule id (``:`` is allowed in ids, so no file can mean the probe)


def score_rule(rule: Rule) -> bool:
    """True for a rule with one lower bound on the model score (``ge`` or ``gt``) and no upper one.

    Such a rule's threshold is tuned like a velocity rule's; its other
    conditions, if any, stay as they are."""
    match = rule.match
    bound = match.model_score if match is not None else None
    return (rule.velocity is None and rule.list is None and rule.purchase_limit is None and bound is not None
            and bound.lt is None and bound.le is None and (bound.ge is None) != (bound.gt is None))


def rule_threshold(rule: Rule) -> float | None:
    """The threshold tuning moves: a velocity rule's ``above``, a score rule's bound on the model score."""
    if score_rule(rule):
        bound = rule.match.model_score  # type: ignore[union-attr]
        return bound.ge if bound.ge is not None else bound.gt
    return rule.above


def over(rule: Rule, values: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
    """Which values hit ``rule`` at ``threshold``: above it (velocity, ``gt``), or at least it (``ge``)."""
    with np.errstate(invalid="ignore"):
        if score_rule(rule) and rule.match.model_score.ge is not None:  # type: ignore[union-attr]
            return values >= threshold
        return values > threshold


def probed(ruleset: RuleSet) -> RuleSet:
    """``ruleset`` plus a shadow probe (threshold 0) beside each active velocity rule and score rule.

    A velocity probe has the same key, window, filter and gates as its rule,
    so it shares the rule's window: it adds reasons, not state.  A score
    probe keeps the rule's other conditions and asks for a model score of at
    least 0, so it hits wherever a model scored the order and the rest of the
    rule held.
    """
    from ..rules.model import Compare

    ids = {r.id for r in ruleset.rules}
    probes = []
    for rule in ruleset.rules:
        if rule.mode != "active" or (rule.velocity is None and not score_rule(rule)):
            continue
        probe_id = rule.id + PROBE
        if probe_id in ids:
            raise ValueError(f"rule id {probe_id!r} is reserved for tuning's probe of {rule.id!r}")
        if rule.velocity is not None:
            update: dict[str, Any] = {"above": 0.0}
        else:
            update = {"match": rule.match.model_copy(update={"model_score": Compare(ge=0.0)})}  # type: ignore[union-attr]
        probes.append(rule.model_copy(update={"id": probe_id, "mode": "shadow", **update}))
    return replace(ruleset, rules=ruleset.rules + tuple(probes))


@dataclass
class Evidence:
    """Per order (arrays in input order): label (-1 unlabelled), event time, action, and each rule's hits."""

    rules: list[Rule]
    thresholds: Thresholds
    labels: np.ndarray
    times: np.ndarray
    actions: np.ndarray
    hits: dict[str, np.ndarray]  # active rule id -> bool per order
    values: dict[str, np.ndarray]  # velocity rule id -> the window's value per order (NaN: not counted);
    # score rule id -> the model score where the rule's other conditions held (NaN elsewhere, or no model)
    report: ReplayReport = field(default_factory=ReplayReport)

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, share: float) -> float:
        """The event time (epoch seconds) before which ``share`` of the orders lie."""
        if not 0.0 < share < 1.0:
            raise ValueError(f"the split must be between 0 and 1 (the earlier share), got {share}")
        if len(self) < 2:
            raise ValueError("tuning needs at least two orders")
        return float(np.quantile(self.times, share, method="lower")) if len(self) else 0.0


def gather(engine_for: Callable[[RuleSet], DecisionEngine], ruleset: RuleSet, records: Iterable[tuple[str, Any]],
           label_field: str, scoring_for: Callable[[DecisionEngine], "Scoring | None"] | None = None) -> Evidence:
    """Replay ``records`` once through ``ruleset`` with its probes; the evidence of every valid order."""
    engine = engine_for(probed(ruleset))
    scoring = scoring_for(engine) if scoring_for is not None else None
    report = ReplayReport(ruleset_version=ruleset.version)
    labels: list[int] = []
    times: list[float] = []
    final: list[Any] = []  # each order's last decision
    index: dict[str, int] = {}
    with fewer_collections():
        for data, decision in decide_records(engine, records, report, scoring=scoring):
            if data is None:  # an escalation: a later revision of an earlier order
                at = index.get(decision.order_id)
                if at is not None:
                    final[at] = decision
                continue
            label = parse_label(data.get(label_field))
            labels.append(-1 if label is None else label)
            index[decision.order_id] = len(final)
            final.append(decision)
            times.append(_event_seconds(decision.event_time))
    active = [r for r in ruleset.rules if r.mode == "active"]
    n = len(final)
    hits = {r.id: np.zeros(n, dtype=bool) for r in active}
    values = {r.id: np.full(n, np.nan) for r in active if r.velocity is not None or score_rule(r)}
    scored = {r.id for r in active if score_rule(r)}
    actions = np.zeros(n, dtype=np.int8)
    for i, decision in enumerate(final):
        actions[i] = int(decision.action)
        for reason in decision.reasons:
            hit = hits.get(reason.rule)
            if hit is not None:
                hit[i] = True
        for reason in decision.shadow:
            if reason.rule.endswith(PROBE):
                rule_id = reason.rule[: -len(PROBE)]
                if rule_id in scored:
                    if decision.model_score is not None:
                        values[rule_id][i] = float(decision.model_score)
                else:
                    values[rule_id][i] = float(reason.value)
    report.ruleset_version = ruleset.version
    return Evidence(active, ruleset.thresholds, np.asarray(labels, dtype=np.int8), np.asarray(times), actions,
                    hits, values, report)


def _event_seconds(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


@dataclass(frozen=True)
class Setting:
    """One rule's effect in a rule set: its score, forced outcome and (velocity rules) threshold."""

    score: float
    outcome: Outcome | None
    above: float | None = None
    shadow: bool = False  #: reported, never changing an action (the rule's "allow" tier)

    @classmethod
    def of(cls, rule: Rule) -> "Setting":
        return cls(float(rule.score), rule.outcome, rule_threshold(rule))


class Policy:
    """The engine's policy over arrays: the action of every order under given rule settings."""

    def __init__(self, evidence: Evidence, thresholds: Thresholds | None = None):
        self.evidence = evidence
        thresholds = thresholds or evidence.thresholds
        self.steps = sorted(((Outcome.parse(name), value) for name, value in thresholds.model_dump().items()
                             if value is not None), key=lambda s: s[1])
        self.lists = {r.id for r in evidence.rules if r.kind == "list"}

    def hits(self, rule: Rule, setting: Setting) -> np.ndarray:
        """The orders ``rule`` hits under ``setting`` (another threshold re-reads the probe's values)."""
        ev = self.evidence
        if setting.above is not None and setting.above != rule_threshold(rule) and rule.id in ev.values:
            return over(rule, ev.values[rule.id], setting.above)
        return ev.hits[rule.id]

    def parts(self, settings: dict[str, Setting], without: str | None = None,
              mask: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """Total score, strongest forced outcome, allow-list hit and strongest other list outcome per order."""
        n = len(self.evidence) if mask is None else int(mask.sum())
        score = np.zeros(n)
        forced = np.zeros(n, dtype=np.int8)
        allowed = np.zeros(n, dtype=bool)
        listed = np.zeros(n, dtype=np.int8)
        for rule in self.evidence.rules:
            if rule.id == without:
                continue
            setting = settings[rule.id]
            if setting.shadow:
                continue
            hit = self.hits(rule, setting)
            if mask is not None:
                hit = hit[mask]
            if setting.score:
                score += hit * setting.score
            if setting.outcome is not None:
                value = int(setting.outcome)
                if rule.id in self.lists:
                    if setting.outcome is Outcome.ALLOW:
                        allowed |= hit
                    else:
                        np.maximum(listed, hit * np.int8(value), out=listed)
                np.maximum(forced, hit * np.int8(value), out=forced)
        return score, forced, allowed, listed

    def combine(self, score: np.ndarray, forced: np.ndarray, allowed: np.ndarray, listed: np.ndarray) -> np.ndarray:
        by_score = np.zeros(len(score), dtype=np.int8)
        for outcome, minimum in self.steps:
            by_score[score >= minimum] = int(outcome)
        return np.where(allowed, listed, np.maximum(forced, by_score))

    def actions(self, settings: dict[str, Setting], without: str | None = None,
                mask: np.ndarray | None = None) -> np.ndarray:
        """Every order's action (as Outcome values) with ``settings`` per rule id, leaving ``without`` out."""
        return self.combine(*self.parts(settings, without, mask))


def current_settings(evidence: Evidence) -> dict[str, Setting]:
    return {r.id: Setting.of(r) for r in evidence.rules}
