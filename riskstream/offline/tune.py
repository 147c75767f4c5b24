"""``riskstream tune``: rule outcomes and thresholds calibrated on labelled history.

The history is split by event time: the earlier part (``split``, 70% of the
orders by default) tunes, the later part only reports, so the figures an
analyst reads were not fitted to.  On the earlier part, for each rule:

* its hits, precision and recall, and the recall it adds over the others
  (blocked and flagged positives lost when the rule alone is left out);
* for a velocity rule, precision and recall at every threshold its window
  value took (the probes of :mod:`.evidence`);
* a proposal, found rule by rule over the whole policy (two sweeps of
  coordinate ascent from the current settings).  A rule's options are its
  tiers - ``hold`` (``freeze`` for a rule that already freezes), ``review``,
  a weak signal (half the review score, no outcome) and ``allow`` (shadow
  mode: reported, never acting) - at each threshold a velocity rule's window
  took (a score rule: at each score the model gave).  An option is allowed only when what the rule *adds* meets the
  targets: the orders it alone blocks reach ``block_precision``, the orders
  it alone flags ``review_precision``.  Precision of what a rule adds, not
  of all it hits, because a rule that mostly re-finds what others already
  block looks precise while everything new it finds may be benign.  Among
  the allowed options the one with the most utility (blocked recall plus
  half the flagged recall) wins; the current setting stays unless another
  gains at least ``min_gain``.  Allow lists and challenge (step-up) rules
  keep their setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..decisions import Outcome
from ..rules.model import Rule
from .evidence import Evidence, Policy, Setting, current_settings, over, rule_threshold

MAX_CANDIDATES = 40  #: thresholds tried per velocity rule (quantiles of its values when more)
REVIEW_WEIGHT = 0.5  #: utility of a flagged positive next to a blocked one


@dataclass(frozen=True)
class Targets:
    block: float = 0.95  #: least precision of a rule that holds or freezes
    review: float = 0.5  #: least precision of a rule that sends to review
    min_hits: int = 20  #: a rule with fewer hits on the earlier part is too rare to tune: it keeps its setting
    min_gain: float = 0.001  #: least utility gain (recall points) to move a rule off its current setting


@dataclass
class RuleTuning:
    rule: Rule
    current: Setting
    proposed: Setting
    why: str
    stats: dict[str, Any] = field(default_factory=dict)  # part -> metrics of the current and proposed setting
    curve: dict[str, list[float]] | None = None  # velocity rules: threshold, precision, recall (earlier part)

    @property
    def changed(self) -> bool:
        return self.current != self.proposed


def rate(tp: int, fp: int, positives: int) -> dict[str, float]:
    hits = tp + fp
    return {"hits": int(hits), "tp": int(tp), "precision": round(tp / hits, 4) if hits else 0.0,
            "recall": round(tp / positives, 4) if positives else 0.0}


def tier_table(actions: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Per outcome tier: orders at that action, their precision, and the recall at that tier or stronger."""
    labelled = labels >= 0
    positive = labels == 1
    positives = int(positive.sum())
    out = {}
    for outcome in (Outcome.CHALLENGE, Outcome.REVIEW, Outcome.HOLD, Outcome.FREEZE):
        at = (actions == int(outcome)) & labelled
        tp = int((at & positive).sum())
        stronger = (actions >= int(outcome)) & positive
        orders = int(at.sum())
        out[outcome.label] = {"orders": orders, "precision": round(tp / orders, 4) if orders else 0.0,
                              "recall_at_least": round(int(stronger.sum()) / positives, 4) if positives else 0.0}
    blocked = (actions >= int(Outcome.HOLD)) & labelled
    flagged = (actions >= int(Outcome.CHALLENGE)) & labelled
    out["blocked"] = rate(int((blocked & positive).sum()), int((blocked & ~positive).sum()), positives)
    out["flagged"] = rate(int((flagged & positive).sum()), int((flagged & ~positive).sum()), positives)
    benign = labelled & ~positive
    out["benign_held_share"] = round(float((blocked & benign).sum() / benign.sum()), 5) if benign.sum() else 0.0
    return out


class Tuner:
    """Proposals for every rule from evidence, tuned on the orders before ``cut`` (epoch seconds)."""

    def __init__(self, evidence: Evidence, cut: float, targets: Targets = Targets()):
        self.evidence = evidence
        self.targets = targets
        self.early = evidence.times < cut
        self.late = ~self.early
        self.policy = Policy(evidence)
        self.current = current_settings(evidence)

    def parts(self) -> dict[str, np.ndarray]:
        return {"earlier": self.early, "later": self.late}

    def tune(self) -> list[RuleTuning]:
        chosen = self.propose()
        out = [RuleTuning(rule, self.current[rule.id], chosen[rule.id][0], chosen[rule.id][1],
                          curve=self._curve(rule) if rule.id in self.evidence.values else None)
               for rule in self.evidence.rules]
        proposal = {t.rule.id: t.proposed for t in out}
        for tuning in out:
            tuning.stats = {name: self._rule_stats(tuning.rule, proposal, mask) for name, mask in self.parts().items()}
        return out

    def _rule_stats(self, rule: Rule, proposal: dict[str, Setting], mask: np.ndarray) -> dict[str, Any]:
        labels = self.evidence.labels[mask]
        positive = labels == 1
        positives = int(positive.sum())
        out: dict[str, Any] = {}
        for name, settings in (("current", self.current), ("proposed", proposal)):
            hit = self.policy.hits(rule, settings[rule.id])[mask] & (labels >= 0)
            stats = rate(int((hit & positive).sum()), int((hit & ~positive).sum()), positives)
            with_rule = self.policy.actions(settings)[mask]
            without = self.policy.actions(settings, without=rule.id)[mask]
            for group, least in (("blocked", Outcome.HOLD), ("flagged", Outcome.CHALLENGE)):
                lost = (with_rule >= least) & ~(without >= least) & positive
                stats[f"adds_{group}_recall"] = round(int(lost.sum()) / positives, 4) if positives else 0.0
            out[name] = stats
        return out

    def _thresholds(self, rule: Rule) -> list[float | None]:
        """Thresholds worth trying (the current one among them) of a velocity or score rule; [None] for other rules."""
        ev = self.evidence
        if rule.id not in ev.values:
            return [None]
        values = ev.values[rule.id][self.early]
        seen = values[~np.isnan(values)]
        levels = np.unique(seen)
        if levels.size > MAX_CANDIDATES:
            levels = np.unique(np.quantile(seen, np.linspace(0, 1, MAX_CANDIDATES), method="lower"))
        current = float(rule_threshold(rule))  # type: ignore[arg-type]
        if rule.velocity is None:  # a score rule hits scores at or above its bound
            return sorted({round(float(v), 4) for v in levels[1:]} | {current})
        return sorted({float(v) for v in levels[:-1]} | {current})  # hits are values above

    def _curve(self, rule: Rule) -> dict[str, list[float]]:
        """Precision and recall of the rule alone at each threshold, on the earlier part."""
        ev = self.evidence
        labelled = self.early & (ev.labels >= 0)
        values = ev.values[rule.id][labelled]
        positive = ev.labels[labelled] == 1
        thresholds = np.asarray(self._thresholds(rule))
        hit = over(rule, values[None, :], thresholds[:, None])
        tp, hits = (hit & positive).sum(axis=1), hit.sum(axis=1)
        precision = np.where(hits > 0, tp / np.maximum(hits, 1), 0.0)
        recall = tp / max(int(positive.sum()), 1)
        return {"threshold": thresholds.tolist(), "precision": precision.tolist(), "recall": recall.tolist()}

    def _options(self, rule: Rule, current: Setting) -> list[Setting]:
        block = Outcome.FREEZE if rule.outcome is Outcome.FREEZE else Outcome.HOLD
        review = self.review_score
        out = [current]
        for above in self._thresholds(rule):
            out.append(Setting(current.score or review, block, above))
            out.append(Setting(min(current.score, review) or review, Outcome.REVIEW, above))
            out.append(Setting(review / 2, None, above))
        out.append(Setting(current.score, current.outcome, current.above, shadow=True))
        return out

    def _tune(self, rule: Rule, settings: dict[str, Setting]) -> tuple[Setting, str]:
        """The best allowed option for ``rule`` with the other rules at ``settings``, and why."""
        ev = self.evidence
        mask = self.early & (ev.labels >= 0)
        positive = ev.labels[mask] == 1
        positives = max(int(positive.sum()), 1)
        score, forced, allowed, listed = self.policy.parts(settings, without=rule.id, mask=mask)
        rest = self.policy.combine(score, forced, allowed, listed)
        current = settings[rule.id]
        targets = self.targets
        scored = []
        for option in self._options(rule, current):
            if option.shadow:
                action = rest
            else:
                hit = self.policy.hits(rule, option)[mask]
                with_score = score + hit * option.score if option.score else score
                with_forced = np.maximum(forced, hit * np.int8(int(option.outcome))) if option.outcome else forced
                action = self.policy.combine(with_score, with_forced, allowed, listed)
            checks = []
            for least, target in ((Outcome.HOLD, targets.block), (Outcome.CHALLENGE, targets.review)):
                adds = (action >= least) & (rest < least)
                n = int(adds.sum())
                tp = int((adds & positive).sum())
                checks.append((n, tp / n if n else 1.0, target))
            ok = all(p >= target for n, p, target in checks)
            blocked = int(((action >= Outcome.HOLD) & positive).sum())
            flagged = int(((action >= Outcome.CHALLENGE) & positive).sum())
            utility = (blocked + REVIEW_WEIGHT * flagged) / positives
            scored.append((option, ok, utility, checks))
        base = scored[0]
        feasible = [s for s in scored if s[1]]
        if not feasible:  # cannot happen: shadow adds nothing
            return current, "no setting meets the targets: kept"
        best = max(feasible, key=lambda s: s[2])
        if base[1] and best[2] < base[2] + targets.min_gain:
            return current, "meets the targets; no setting adds enough recall: kept"
        option, _, utility, checks = best
        (nb, pb, _), (nf, pf, _) = checks
        tier = "allow (shadow)" if option.shadow else option.outcome.label if option.outcome else "weak signal"
        why = (f"{tier}" + (f" above {option.above:g}" if option.above is not None and not option.shadow else "")
               + f": alone blocks {nb} at precision {pb:.3f}, flags {nf} at {pf:.3f}; utility {base[2]:.4f} -> {utility:.4f}")
        if not base[1]:
            why = "current setting misses the targets; " + why
        return option, why

    def propose(self, sweeps: int = 2) -> dict[str, tuple[Setting, str]]:
        """Coordinate ascent from the current settings: each tunable rule in turn, ``sweeps`` times."""
        settings = dict(self.current)
        why: dict[str, str] = {}
        for _ in range(sweeps):
            moved = False
            for rule in self.evidence.rules:
                if rule.kind == "list":
                    why[rule.id] = "lists are curated by reviewers: kept"
                    continue
                if rule.outcome is Outcome.CHALLENGE:
                    why[rule.id] = "step-up verification lets genuine buyers through: kept"
                    continue
                if int(self.evidence.hits[rule.id][self.early].sum()) < self.targets.min_hits and (
                        rule.id not in self.evidence.values or self._seen(rule) < self.targets.min_hits):
                    why[rule.id] = f"fewer than {self.targets.min_hits} hits on the earlier part: kept"
                    continue
                option, reason = self._tune(rule, settings)
                if option != settings[rule.id]:
                    settings[rule.id], why[rule.id], moved = option, reason, True
                elif rule.id not in why or settings[rule.id] == self.current[rule.id]:
                    why[rule.id] = reason
            if not moved:
                break
        return {rid: (settings[rid], why[rid]) for rid in settings}

    def _seen(self, rule: Rule) -> int:
        """Orders of the earlier part a threshold could make ``rule`` hit (a window above 0, a model score)."""
        values = self.evidence.values[rule.id][self.early]
        with np.errstate(invalid="ignore"):
            return int((values > 0).sum()) if rule.velocity is not None else int((~np.isnan(values)).sum())

    @property
    def review_score(self) -> float:
        thresholds = self.evidence.thresholds
        return float(thresholds.review if thresholds.review is not None else 40.0)

    def tiers(self, proposal: dict[str, Setting]) -> dict[str, dict[str, Any]]:
        """Tier tables of the current and the proposed settings, per part (from the evidence)."""
        out: dict[str, dict[str, Any]] = {}
        for name, settings in (("current", self.current), ("proposed", proposal)):
            actions = self.policy.actions(settings)
            out[name] = {part: tier_table(actions[mask], self.evidence.labels[mask]) for part, mask in self.parts().items()}
        return out


def final_actions(engine: Any, records: Any, count: int, label_field: str | None = None) -> np.ndarray:
    """Each valid order's last action (escalations applied) from a replay of ``records``, in input order."""
    from .replay import ReplayReport, decide_records, fewer_collections

    actions = np.zeros(count, dtype=np.int8)
    index: dict[str, int] = {}
    with fewer_collections():
        for data, decision in decide_records(engine, records, ReplayReport()):
            if data is None:
                at = index.get(decision.order_id)
                if at is not None:
                    actions[at] = int(decision.action)
                continue
            at = len(index)
            if at >= count:
                raise ValueError("the history changed between the two passes (more orders the second time)")
            index[decision.order_id] = at
            actions[at] = int(decision.action)
    if len(index) != count:
        raise ValueError("the history changed between the two passes (fewer orders the second time)")
    return actions
