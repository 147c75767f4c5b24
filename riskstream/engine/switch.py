"""Switching rule sets in a running engine, at a point in event time.

A published rule set (:mod:`riskstream.rules.published`) decides every order
whose event time is at or after its ``effective_at``; earlier orders keep the
rule set they had.  The choice is made per order by its event time, so every
decide partition, every worker and replay pick the same rule set for the same
order whatever the moment the record reached them.

What switches is what turns counts into a decision: the rules' thresholds,
scores, outcomes, modes, match conditions and lists, the score thresholds and
the safety cap.  What is counted stays: the new rule set must keep the same
windows (velocity keys, metrics, windows and filters, in the same order), the
same sales and the same graph settings, because the windows, the clusters and
the touches routed between workers were built for them.  A rule set that
changes those is refused with the reason (it needs a restart of the workers
on the new rules, with their state rebuilt).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from ..rules.errors import Problem, RuleFileError
from ..rules.ruleset import RuleSet
from .checks import ListCheck, compile_checks
from .safety import FreezeGuard

if TYPE_CHECKING:
    from .core import DecisionEngine

__all__ = ["RulesetSchedule", "Rules", "ShadowRules", "schedule_published", "schedule_ruleset"]


class Rules:
    """One rule set compiled against an engine's windows: what :meth:`RulesetSchedule.use` swaps in."""

    __slots__ = ("ruleset", "version", "checks", "policy", "has_shadow", "list_checks", "cap")

    def __init__(self, engine: "DecisionEngine", ruleset: RuleSet):
        trackers, checks = compile_checks(ruleset, engine.keys, engine.sales, engine.grace)
        old = engine.schedule.base.ruleset if engine.schedule is not None else engine.ruleset
        problems = []
        if [t.identity for t in trackers] != [t.identity for t in engine.trackers[:len(trackers)]] or \
                len(trackers) != _rule_trackers(engine, old):
            problems.append("its velocity windows differ from the running rule set's (keys, metrics, windows, filters)")
        if ruleset.sales != old.sales:
            problems.append("its sales differ from the running rule set's")
        if ruleset.graph != old.graph:
            problems.append("its graph settings differ from the running rule set's")
        if problems:
            raise RuleFileError([Problem(f"rule set {ruleset.version}", None, "", p + ": restart the workers on it")
                                 for p in problems])
        self.ruleset = ruleset
        self.version = ruleset.version
        self.checks = checks
        self.policy = type(engine.policy)(ruleset.thresholds)  # the engine's Policy (core imports this module)
        self.has_shadow = any(c.shadow for c in checks)
        self.list_checks = [c for c in checks if isinstance(c, ListCheck)]
        self.cap = ruleset.header.safety

    @classmethod
    def of(cls, engine: "DecisionEngine") -> "Rules":
        """The engine's own rule set as it stands (the first entry of its schedule)."""
        rules = cls.__new__(cls)
        rules.ruleset, rules.version, rules.checks = engine.ruleset, engine.version, engine.checks
        rules.policy, rules.has_shadow, rules.list_checks = engine.policy, engine.has_shadow, engine.list_checks
        rules.cap = engine.ruleset.header.safety
        return rules


def _rule_trackers(engine: "DecisionEngine", ruleset: RuleSet) -> int:
    """How many of the engine's trackers its rules made (model features may add more after them)."""
    trackers, _ = compile_checks(ruleset, engine.keys, engine.sales, engine.grace)
    return len(trackers)


class RulesetSchedule:
    """The rule sets of an engine by the event time they take effect; the engine asks it per order."""

    def __init__(self, engine: "DecisionEngine"):
        self.base = Rules.of(engine)
        self.times: list[float] = []
        self.entries: list[Rules] = []
        self.current: Rules = self.base
        self.digests: set[tuple[str, float]] = set()

    def add(self, engine: "DecisionEngine", ruleset: RuleSet, effective_ts: float) -> bool:
        """Schedule ``ruleset`` from ``effective_ts`` on; False when that very switch is known.
        Raises :class:`RuleFileError` when the rule set cannot run on this engine's windows."""
        if (ruleset.digest, effective_ts) in self.digests:
            return False
        rules = Rules(engine, ruleset)
        at = bisect_right(self.times, effective_ts)
        self.times.insert(at, effective_ts)
        self.entries.insert(at, rules)
        self.digests.add((ruleset.digest, effective_ts))
        return True

    def at(self, ts: float) -> Rules:
        at = bisect_right(self.times, ts)
        return self.entries[at - 1] if at else self.base

    def use(self, engine: "DecisionEngine", ts: float) -> None:
        """Put the rule set for an order at ``ts`` in place on the engine (cheap when it is the current one)."""
        rules = self.at(ts)
        if rules is self.current:
            return
        self.current = rules
        engine.ruleset, engine.version, engine.checks = rules.ruleset, rules.version, rules.checks
        engine.policy, engine.has_shadow, engine.list_checks = rules.policy, rules.has_shadow, rules.list_checks
        guard: FreezeGuard = engine.safety
        guard.max_accounts, guard.max_rate = rules.cap.max_cluster_accounts, rules.cap.max_freezes_per_minute
        guard.enabled = guard.max_accounts is not None or guard.max_rate is not None
        escalator = engine.graph.escalator if engine.graph is not None else None
        if escalator is not None:
            escalator.checks = {**escalator.checks, **{c.id: c for c in rules.checks}}  # earlier triggers' rules too
            escalator.escalating = [c for c in rules.checks if c.kind == "cluster" and c.outcome is not None]
            escalator.policy_action = rules.policy.action
            for check in escalator.escalating:
                escalator._open.setdefault(check.id, {})


def schedule_ruleset(engine: "DecisionEngine", ruleset: RuleSet, effective_ts: float) -> bool:
    """Switch ``engine`` to ``ruleset`` for orders at or after ``effective_ts`` (see :class:`RulesetSchedule`)."""
    if engine.schedule is None:
        engine.schedule = RulesetSchedule(engine)
    return engine.schedule.add(engine, ruleset, effective_ts)


class ShadowRules:
    """Rule sets evaluated beside the live one from their effective time on, never changing an outcome.

    Each decision then carries ``shadow_ruleset``: the shadow rule set's version
    and the action it would have given (``riskstream rules diff`` counts them).
    """

    def __init__(self) -> None:
        self.times: list[float] = []
        self.entries: list[Rules] = []
        self.digests: set[tuple[str, float]] = set()

    def add(self, engine: "DecisionEngine", ruleset: RuleSet, effective_ts: float) -> bool:
        if (ruleset.digest, effective_ts) in self.digests:
            return False
        rules = Rules(engine, ruleset)  # the same windows as the live rules: it reads their aggregates
        at = bisect_right(self.times, effective_ts)
        self.times.insert(at, effective_ts)
        self.entries.insert(at, rules)
        self.digests.add((ruleset.digest, effective_ts))
        return True

    def judge(self, engine: "DecisionEngine", view, touched) -> dict | None:
        """The shadow rule set's version and action for an order (None before the first shadow takes effect)."""
        at = bisect_right(self.times, view.event.ts)
        if not at:
            return None
        rules = self.entries[at - 1]
        reasons = []
        for check in rules.checks:
            if not check.shadow:
                reason = check.evaluate(view, touched)
                if reason is not None:
                    reasons.append(reason)
        if engine.verdicts:
            reasons = engine.verdicts.judge(view, reasons)
        action, _ = rules.policy.action(reasons)
        return {"version": rules.version, "action": action.label, "rules": sorted({r.rule for r in reasons})}


def schedule_published(engine: "DecisionEngine", role: str, ruleset: RuleSet, effective_ts: float) -> bool:
    """Schedule a published rule set by its role: ``live`` switches, ``shadow`` runs beside."""
    if role == "shadow":
        if engine.shadow is None:
            engine.shadow = ShadowRules()
        return engine.shadow.add(engine, ruleset, effective_ts)
    return schedule_ruleset(engine, ruleset, effective_ts)
