"""The decision engine: one order in, one decision out.

Plain Python with no streaming import, so the same engine runs offline
(``riskstream replay`` / ``backtest``) and online (the Faust workers), and
the same ordered input gives the same decisions in both.

Per order: count it in every tracker whose filter it passes, evaluate every
rule, then apply the policy - active rules add their scores, the total maps to
an outcome through the rule set's thresholds, forced outcomes raise it, and
the strongest wins.  An allow-list hit lets the order through unless a list
with a stronger outcome also hit.  Shadow rules are evaluated and reported
but never change the action.

When the rule set keeps a graph (:mod:`.clusters`), each order also links
its account to its entities before the rules run, ``person`` is the
account's cluster, and cluster rules that force an outcome escalate the
earlier orders of the cluster's members: :meth:`DecisionEngine.decide`
returns the order's decision, and :meth:`DecisionEngine.take_escalations`
the new revisions of earlier orders it caused.

Reviewers' verdicts (:mod:`.verdicts`) are list entries the policy applies by
event time: :meth:`DecisionEngine.add_verdict` files one, and a verdict that
stands for an order fixes its outcome.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

from ..decisions import Decision, Outcome, Reason
from ..events import OrderEvent
from ..rules.model import Thresholds, Velocity
from ..rules.ruleset import RuleSet
from ..settings import DEV_SECRET
from ..timebuckets import TimeBuckets
from ..verdicts import Verdict
from .checks import Check, ListCheck, Tracker, compile_checks, tracker_identity
from .clusters import GraphStep
from .escalation import Escalator, Trigger
from .order_view import EntityKeys, OrderView, SaleIndex
from .safety import FreezeGuard
from .switch import RulesetSchedule, ShadowRules
from .verdicts import VERDICT_KIND, VerdictLists
from .windows import DEFAULT_KEY_CAP, Aggregate

DEFAULT_GRACE = 300.0


class Policy:
    """Total score -> outcome, merged with forced outcomes; a reviewer's verdict is final."""

    def __init__(self, thresholds: Thresholds):
        steps = [(Outcome.parse(name), value) for name, value in thresholds.model_dump().items() if value is not None]
        self.steps = sorted(steps, key=lambda s: s[1], reverse=True)
        self._no_reasons = (self.by_score(0.0), 0.0)  # most orders

    def by_score(self, score: float) -> Outcome:
        for outcome, minimum in self.steps:
            if score >= minimum:
                return outcome
        return Outcome.ALLOW

    def action(self, reasons: list[Reason]) -> tuple[Outcome, float]:
        if not reasons:
            return self._no_reasons
        score = 0.0
        forced = Outcome.ALLOW
        allowed = False
        listed = Outcome.ALLOW
        verdict = None
        for reason in reasons:
            score += reason.score
            outcome = reason.outcome
            if outcome is None:
                continue
            if reason.kind == "list":
                if outcome is Outcome.ALLOW:
                    allowed = True
                elif outcome > listed:
                    listed = outcome
            elif reason.kind == VERDICT_KIND:
                verdict = outcome
            if outcome > forced:
                forced = outcome
        if verdict is not None:
            return verdict, score
        if allowed:
            return listed, score
        by_score = self.by_score(score)
        return (forced if forced > by_score else by_score), score


class DecisionEngine:
    """Decides orders against one rule set, keeping exact velocity state.

    ``clock`` gives the decision time (epoch seconds; the wall clock by
    default).  ``secret`` keys the pseudonyms of entity values.  ``grace`` is
    how late (seconds, event time) an order may arrive and still see exact
    windows.  ``dedup_horizon`` is how long an order id is remembered.
    ``window_key_cap`` bounds the keys of each velocity window (the stalest go first).
    """

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        secret: bytes = DEV_SECRET,
        clock: Callable[[], float] = time.time,
        grace: float = DEFAULT_GRACE,
        dedup_horizon: float = 86400.0,
        phone_region: str = "CN",
        window_key_cap: int = DEFAULT_KEY_CAP,
    ):
        self.ruleset = ruleset
        self.version = ruleset.version
        self.clock = clock
        self.keys = EntityKeys(secret, phone_region)
        self.sales = SaleIndex(ruleset.sales)
        self.trackers: list[Tracker]
        self.checks: list[Check]
        self.trackers, self.checks = compile_checks(ruleset, self.keys, self.sales, grace)
        self._counters: list[Callable[[OrderView], list[Aggregate]]] = []  # Tracker.counter() of each tracker
        self._plan: list[tuple[Check, int, int, float]] = []  # (check, *check.screen()) of each check
        self._plan_of: list[Check] | None = None  # the checks _plan was made of
        self.window_key_cap = window_key_cap  # keys per window, see VelocityWindow
        for tracker in self.trackers:
            tracker.window.max_keys = window_key_cap
        self.policy = Policy(ruleset.thresholds)
        self.has_shadow = any(c.shadow for c in self.checks)
        self.uses_model = ruleset.uses_model
        self.grace = grace
        longest = max((t.window.length for t in self.trackers), default=0.0)
        self.dedup_horizon = max(dedup_horizon, longest + grace)
        self.sweep_every = 60.0  # event-time seconds; a sweep only visits expired buckets
        self.watermark = float("-inf")
        self._next_sweep = float("-inf")
        self._seen: set[str] = set()
        self._seen_times: TimeBuckets[str] = TimeBuckets(self.dedup_horizon / 8)  # order ids by event time
        self.list_checks = [c for c in self.checks if isinstance(c, ListCheck)]
        self.graph: GraphStep | None = GraphStep(ruleset.graph, self.sales, secret) if ruleset.graph is not None else None
        if self.graph is not None:
            self.graph.escalator = Escalator(self.graph.within, self.checks, self.policy.action)
        self._escalations: list[Decision] = []
        if self.graph is not None:
            self.dedup_horizon = max(self.dedup_horizon, self.graph.within)
        self.verdicts = VerdictLists()  # an engine for a new rule set takes the old one's (see use_verdicts)
        if self.graph is not None:
            self.graph.escalator.verdicts = self.verdicts  # type: ignore[union-attr]
            self.graph.escalator.rules_at = self.use_rules_at  # type: ignore[union-attr]
        self.safety = FreezeGuard(ruleset.header.safety)  # the mass-freeze cap (see .safety)
        self.schedule: RulesetSchedule | None = None  # rule sets published since (see .switch)
        self.shadow: ShadowRules | None = None  # a published shadow rule set, evaluated beside (see .switch)

    def use_rules_at(self, ts: float) -> None:
        """Put the rule set (and its cap) in effect at event time ``ts`` in place, when rule sets were published."""
        if self.schedule is not None:
            self.schedule.use(self, ts)

    def use_verdicts(self, lists: VerdictLists) -> None:
        """Share another engine's verdict lists (an engine built for a new rule set keeps the reviewers' verdicts)."""
        self.verdicts = lists
        if self.graph is not None:
            self.graph.escalator.verdicts = lists  # type: ignore[union-attr]

    def add_verdict(self, verdict: Verdict) -> bool:
        """File a reviewer's verdict in the lists; False when its id was seen before.  Orders
        decided from now on see it; :meth:`revise` gives earlier decisions it changes."""
        return self.verdicts.add(verdict)

    def revise(self, view: OrderView, decision: Decision) -> Decision | None:
        """A new revision of an earlier decision with the verdicts as they stand now (None: unchanged)."""
        return self.verdicts.revise(view, decision, self.policy.action, _iso(self.clock()))

    def keep_order_ids(self, seconds: float) -> None:
        """Remember order ids for at least ``seconds`` of event time (to de-duplicate exactly as
        another engine does).  Call before the first order."""
        if seconds > self.dedup_horizon:
            self.dedup_horizon = seconds
            self._seen_times = TimeBuckets(seconds / 8)

    def seen(self, order_id: str) -> bool:
        """True when this order id was already decided (within the dedup horizon)."""
        return order_id in self._seen

    def decide(self, event: OrderEvent) -> Decision:
        """Count the order and decide it.  Call once per order id (see :meth:`seen`)."""
        return self.conclude(*self.count(event))

    def escalate(self, trigger: Trigger) -> None:
        """Weigh the orders this engine keeps against a trigger made elsewhere (the stream's
        decide partitions publish their triggers to each other); see :meth:`take_escalations`."""
        assert self.graph is not None and self.graph.escalator is not None
        self.use_rules_at(trigger.ts)  # the rules in effect when the trigger was made
        self._escalations.extend(self.graph.escalator.apply(trigger, _iso(self.clock())))

    def take_escalations(self) -> list[Decision]:
        """New revisions of earlier orders escalated since the last call (a cluster crossed a threshold)."""
        out, self._escalations = self._escalations, []
        for revision in out:
            ts = datetime.fromisoformat(revision.event_time).timestamp()
            self.use_rules_at(ts)  # the cap of the rule set in effect for that order
            self.safety.apply(revision, ts)
        return out

    def count(self, event: OrderEvent, frozen: bool = False) -> tuple[OrderView, list[list[Aggregate]]]:
        """The first half of :meth:`decide`: count the order (windows, graph); its view and each tracker's aggregates.

        Orders must be counted in input order; :meth:`conclude` may come later
        (after a batch of orders is scored by the model) and gives the same
        decision as :meth:`decide` when ``frozen``: the order's cluster is then
        taken as it stands now, not read live when the order is concluded.
        """
        self._remember(event.order_id, event.ts)
        self.observe(event.ts)
        view = self.view(event)
        if self.graph is not None:
            self.graph.observe(view, frozen)
        return view, self.touch(view)

    def touch(self, view: OrderView) -> list[list[Aggregate]]:
        """Count the order in every tracker (:meth:`Tracker.touch` of each, in order): each one's aggregates."""
        counters = self._counters
        if len(counters) != len(self.trackers):  # trackers added since (tracker_for)
            counters = self._counters = [t.counter() for t in self.trackers]
        return [count(view) for count in counters]

    def tracker_for(self, velocity: Velocity) -> int:
        """The index of the tracker counting ``velocity``, added if no rule keeps one like it.

        Model features declare the windows they read this way, so they share
        the rules' windows.  Add trackers before the first order is counted.
        """
        seconds = self.sales.longest + 1.0 if velocity.window == "sale" else float(velocity.window)
        identity = tracker_identity(velocity, seconds)
        for index, tracker in enumerate(self.trackers):
            if tracker.identity == identity:
                return index
        self.trackers.append(Tracker(velocity, seconds, self.grace))
        self.trackers[-1].window.max_keys = self.window_key_cap
        self.dedup_horizon = max(self.dedup_horizon, seconds + self.grace)
        return len(self.trackers) - 1

    def observe(self, ts: float) -> None:
        """Advance event time to ``ts``; evicts expired state every minute of event time."""
        if ts > self.watermark:
            self.watermark = ts
            if ts >= self._next_sweep:
                self.sweep()

    def view(self, event: OrderEvent) -> OrderView:
        """The order as the rules see it (its sale, flash items, entity keys)."""
        return OrderView(event, self.sales, self.keys)

    def conclude(self, view: OrderView, touched: list[list[Aggregate]], model_version: str | None = None,
                 escalate: bool = True) -> Decision:
        """Evaluate every rule given each tracker's aggregates for this order, and decide.

        ``touched[i]`` holds the aggregates tracker ``i`` returned for the order
        (empty when the order did not qualify).  ``view.model_score`` and
        ``model_version`` come from the anomaly model when one is loaded.
        ``escalate=False`` decides an order again without weighing it for
        escalation (the stream does so when a late order grew its windows).
        """
        event = view.event
        if self.schedule is not None:
            self.schedule.use(self, event.ts)  # the rule set in effect at the order's event time
        active: list[Reason] = []
        shadow: list[Reason] = []
        checks = self.checks
        if self._plan_of is not checks:  # a rule set switch brought other checks
            self._plan = [(c, *c.screen()) for c in checks]
            self._plan_of = checks
        for check, tracker, metric, above in self._plan:
            if tracker >= 0:  # a velocity rule: no evaluate() for the many orders below its threshold
                aggregates = touched[tracker]
                if not aggregates:
                    continue
                if len(aggregates) == 1:
                    if not aggregates[0][metric] > above:
                        continue
                elif not max(a[metric] for a in aggregates) > above:
                    continue
            reason = check.evaluate(view, touched)
            if reason is not None:
                (shadow if check.shadow else active).append(reason)
        if self.verdicts:
            active = self.verdicts.judge(view, active)
        action, score = self.policy.action(active)
        decision = Decision(
            order_id=event.order_id,
            account_id=event.account_id,
            action=action,
            score=score,
            reasons=active,
            ruleset_version=self.version,
            event_time=event.event_time,
            decided_at=_iso(self.clock()),
            sale=view.sale.id if view.sale is not None else None,
            amount=event.amount,
            currency=event.currency,
        )
        if model_version is not None:
            decision.model_version = model_version
            decision.model_score = view.model_score
        if shadow:
            decision.shadow = shadow
            decision.shadow_action = self.policy.action(active + shadow)[0]
        cluster = view.cluster
        if cluster is not None and cluster.id is not None:
            decision.cluster_id = cluster.id
            decision.cluster = cluster.record()
        if self.shadow is not None:
            decision.shadow_ruleset = self.shadow.judge(self, view, touched)
        self.safety.apply(decision, event.ts)
        if escalate and self.graph is not None:
            escalated = self.graph.escalator.decided(view, decision, decision.decided_at)  # type: ignore[union-attr]
            if escalated:
                self._escalations.extend(escalated)
        return decision

    def sweep(self) -> None:
        """Evict state that every window has left behind; runs every few minutes of event time."""
        for tracker in self.trackers:
            tracker.window.sweep()
        if self.graph is not None:
            self.graph.sweep(self.watermark)
        cut = self.watermark - self.dedup_horizon
        for _, ids in self._seen_times.expired(cut):
            self._seen.difference_update(ids)
        self._next_sweep = self.watermark + self.sweep_every

    def _remember(self, order_id: str, ts: float) -> None:
        self._seen.add(order_id)
        self._seen_times.file_at(order_id, ts)

    def evicted_keys(self) -> int:
        """Keys dropped so far to keep each window under its cap (``window_key_cap``)."""
        return sum(t.window.evicted for t in self.trackers)

    def state_size(self) -> dict[str, int]:
        """Keys and entries held, for memory reports."""
        out = {
            "keys": sum(len(t.window) for t in self.trackers),
            "entries": sum(t.window.entries() for t in self.trackers),
            "order_ids": len(self._seen),
        }
        if self.graph is not None:
            out.update(self.graph.state_size())
        return out


_second_text: tuple[int, str] = (-1, "")


def _iso(epoch: float) -> str:
    """RFC 3339 UTC text with milliseconds; the text of the second is reused."""
    global _second_text
    second = int(epoch // 1)
    if second != _second_text[0]:
        _second_text = (second, datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second_text[1]}.{int((epoch - second) * 1000):03d}Z"
