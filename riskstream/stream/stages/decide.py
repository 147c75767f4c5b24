"""The decide stage (per ``risk-signals`` partition): an order's plan, signals and cluster concluded."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable

from ...decisions import Decision
from ...engine import Aggregate, DecisionEngine
from ...engine.clusters import ClusterSnapshot
from ...engine.escalation import Trigger, escalated_reasons
from ...events import order_digest, parse_order
from ...model.features import NO_RHYTHM
from ...model.scorer import Scoring
from .wire import Sealer, Signal, open_order

__all__ = ["Decide"]


@dataclass
class _Pending:
    plan: dict | None = None
    signals: dict[int, list] = field(default_factory=dict)
    cluster: list | None = None  # the order's cluster snapshot, when the rules keep a graph
    decision: Decision | None = None

    def complete(self) -> bool:
        plan = self.plan
        return (plan is not None and len(self.signals) >= len(plan["trackers"])
                and (self.cluster is not None or "graph" not in plan))


class Decide:
    """Collect each order's plan, signals and (with a graph) cluster; conclude complete orders.

    Concluded orders are kept for a while (``keep`` orders): an updated signal
    for one of them (a late order of a shared key grew its window) concludes it
    again, and a changed outcome or set of rules is published as a new
    revision.  Aggregates only grow, so revisions only escalate.

    With a graph, a decision that a cluster rule forced becomes a trigger
    (:mod:`riskstream.engine.escalation`): :meth:`take_triggers` hands them
    over to be published to every decide partition, and each partition's
    :meth:`run` escalates its own orders of the ring's members.
    """

    def __init__(self, engine: DecisionEngine, keep: int = 200_000, scoring: Scoring | None = None):
        self.engine = engine
        self.keep = keep
        self.scoring = scoring  # the anomaly model, scored per call over the orders it completes
        self.pending: dict[str, _Pending] = {}
        self.done: OrderedDict[str, _Pending] = OrderedDict()
        # Orders whose id another order (of another account, so screened elsewhere) already
        # holds here: refused, see take_reused().
        self.reused: list[dict] = []
        self.sealer = Sealer(engine.keys.secret)  # opens the plans' sealed fields
        self.escalator = engine.graph.escalator if engine.graph is not None else None
        if self.escalator is not None:
            self.escalator.outbox = []  # triggers travel to every partition instead of applying here
        self.owns: Callable[[str], bool] = lambda order_id: True  # see retain

    def retain(self, owns: Callable[[str], bool]) -> int:
        """Keep only the orders ``owns`` accepts (those of the ``risk-signals`` partitions this
        worker holds since a rebalance) and publish decisions of those alone.

        An order of a partition handed to another worker is decided there from now on,
        from state rebuilt out of the topic.  A copy kept here would go stale (the new
        owner revises it), yet a trigger or a verdict reaching this worker would still
        escalate or revise it: two workers publishing one revision of one order, with
        different content.  Returns how many orders were forgotten."""
        self.owns = owns
        gone = 0
        for table in (self.pending, self.done):
            for order_id in [o for o in table if not owns(o)]:
                del table[order_id]
                gone += 1
        if self.escalator is not None:
            self.escalator.forget(owns)
        return gone

    def take_triggers(self) -> list[list]:
        """Triggers made since the last call, as plain data for every decide partition."""
        if self.escalator is None or not self.escalator.outbox:
            return []
        owns = self.owns
        out = [t.to_wire() for t in self.escalator.outbox if owns(t.by)]
        self.escalator.outbox.clear()
        return out

    def take_reused(self) -> list[dict]:
        """Orders refused since the last call because their id came with other content first.

        Each screen refuses a reused id among its own account partition's orders; this
        catches one reused across accounts.  The second order gets no decision, though the
        touches its screen sent were counted by then.
        """
        out, self.reused = self.reused, []
        return out

    def run(self, plans: Iterable[dict], signals: Iterable[Signal], clusters: Iterable[list] = (),
            triggers: Iterable[list] = (), again: Iterable[str] = ()) -> list[Decision]:
        """Collect and conclude; ``again``: decided orders to conclude again (a verdict changed the lists)."""
        touched_orders: list[str] = []
        for plan in plans:
            order_id = plan["order"]["order_id"]
            held = self.done.get(order_id) or self.pending.get(order_id)
            if held is not None and held.plan is not None:
                if held.plan["order"] != plan["order"] and (
                        order_digest(held.plan["order"]) != order_digest(plan["order"])):
                    self.reused.append(plan["order"])
                continue  # a plan delivered again: the order is decided or waits for its signals
            self.pending.setdefault(order_id, _Pending()).plan = plan
            touched_orders.append(order_id)
        revised: list[str] = [order_id for order_id in again if order_id in self.done]
        for signal in signals:
            order_id = signal[0]
            done = self.done.get(order_id)
            if done is not None:
                before = done.signals.get(signal[1])
                grown = _grown(before, signal[2:])
                if grown != before:
                    done.signals[signal[1]] = grown
                    revised.append(order_id)
                continue
            pending = self.pending.setdefault(order_id, _Pending())
            pending.signals[signal[1]] = _grown(pending.signals.get(signal[1]), signal[2:])
            touched_orders.append(order_id)
        for order_id, snapshot in clusters:
            if order_id in self.done:
                continue  # sent again after a restart: the order was decided with the first one
            pending = self.pending.setdefault(order_id, _Pending())
            if pending.cluster is None:
                pending.cluster = snapshot
                touched_orders.append(order_id)
        complete: list[_Pending] = []
        for order_id in dict.fromkeys(touched_orders):
            pending = self.pending.get(order_id)
            if pending is None or not pending.complete():
                continue
            del self.pending[order_id]
            complete.append(pending)
        decided = []
        for pending, decision in zip(complete, self._conclude(complete)):
            pending.decision = decision
            decided.append(decision)
            self.done[decision.order_id] = pending
            if len(self.done) > self.keep:
                self.done.popitem(last=False)
        again = [self.done[order_id] for order_id in dict.fromkeys(revised)]
        engine = self.engine
        for done, after in zip(again, self._conclude(again, escalate=False)):
            before = done.decision
            assert before is not None
            carried = escalated_reasons(before)
            if carried and engine.verdicts:  # a rule a reviewer snoozed since is not carried
                carried = engine.verdicts.unsnoozed(carried, self.view_of(done))
            if carried:  # an escalation stands: the order is decided again with it
                ts = datetime.fromisoformat(after.event_time).timestamp()
                engine.use_rules_at(ts)  # its own rules and cap, not those of the last order concluded
                after.reasons.extend(carried)
                after.action, after.score = engine.policy.action(after.reasons)
                # The cap weighs the ring the escalation named, as it did (and as replay does), not
                # the order's own cluster when it was first decided.
                after.cluster_id, after.cluster = before.cluster_id, before.cluster
                engine.safety.apply(after, ts)
            if after.action != before.action or {r.rule for r in after.reasons} != {r.rule for r in before.reasons}:
                after.revision = before.revision + 1
                done.decision = after
                decided.append(after)
                if self.escalator is not None:
                    self.escalator.replace(after)
        if self.escalator is not None:
            for trigger in triggers:
                self.engine.escalate(Trigger.from_wire(trigger))
            for revision in self.engine.take_escalations():
                done = self.done.get(revision.order_id)
                if done is not None:
                    done.decision = revision
                decided.append(revision)
        owns = self.owns
        return [decision for decision in decided if owns(decision.order_id)]

    def view_of(self, pending: _Pending):
        """A complete order's view, with the entity keys its screen computed."""
        assert pending.plan is not None
        view = self.engine.view(parse_order(open_order(pending.plan["order"], self.sealer)))
        view.preset(pending.plan.get("keys", {}))
        return view

    def _conclude(self, pendings: list[_Pending], escalate: bool = True) -> list[Decision]:
        """Decide complete orders; with the model, their scores come from one batch."""
        engine = self.engine
        counted = []
        for pending in pendings:
            view = self.view_of(pending)
            if pending.cluster is not None:
                view.cluster = ClusterSnapshot(view.event.account_id, view.event.ts, pending.cluster)
                if view.cluster.id is not None:
                    view.set_person(view.cluster.id)
            touched: list[list[Aggregate]] = [[] for _ in engine.trackers]
            # Touch numbers follow tracker order, so rebuilding by touch number
            # gives each tracker its aggregates in the order the engine made them.
            for n, tracker in enumerate(pending.plan["trackers"]):
                touched[tracker].append(Aggregate(*pending.signals[n]))
            counted.append((view, touched))
        scoring = self.scoring
        if scoring is None:
            return [engine.conclude(view, touched, escalate=escalate) for view, touched in counted]
        row = scoring.extractor.row
        return scoring.conclude([
            (view, touched, row(view, touched, tuple(pending.plan.get("rhythm", NO_RHYTHM))))  # type: ignore[union-attr]
            for (view, touched), pending in zip(counted, pendings)
        ], escalate=escalate)


def _grown(before: list | None, after: list) -> list:
    """An order's aggregate only grows as late orders join its window; never let it shrink."""
    if before is None:
        return list(after)
    return [max(a, b) for a, b in zip(before, after)]
