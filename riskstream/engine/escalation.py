"""Escalation: when a cluster rule forces an outcome, the ring's earlier orders follow.

A decision whose reasons include a cluster rule with a forced outcome is a
:class:`Trigger`: the cluster, the rule, the trigger order's time and the
cluster's members (those the rule trusts, each with the kinds of entity that
put it in the cluster).  Every *earlier* order of those members within
``escalate_within`` that the rule's ``match`` selects and that is weaker than
the outcome gets a new decision record, one revision higher, carrying the rule
as a reason with ``escalated_by``.  Each order is weighed once per rule.

One process (replay) applies a trigger as soon as its decision is made.  In
the stream, orders are decided on the partition that owns their order id, so
a trigger is published to every decide partition and each escalates its own
orders; a trigger may arrive before one of those earlier orders is decided
(its signals still travelling), so triggers are kept for ``escalate_within``
and a member's order decided later is weighed against them too
(:meth:`Escalator.decided`).  In replay, where orders are decided in input
order, that catching up only ever finds out-of-order input.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..decisions import Decision, Outcome, Reason
from ..timebuckets import TimeBuckets
from .verdicts import VERDICT_KIND, VerdictLists

if TYPE_CHECKING:
    from .checks import Check
    from .order_view import OrderView


@dataclass(slots=True)
class Trigger:
    """A cluster rule that forced an outcome: what its earlier orders must be weighed against."""

    cluster: str
    size: int
    rule: str
    by: str  # the order id whose decision forced it
    ts: float  # that order's event time
    sale: str | None
    reason: Reason
    members: dict[str, list[str]]  # account -> kinds of the entities it shares in the cluster (shared: read only)

    def to_wire(self) -> list:
        r = self.reason
        reason = [r.rule, r.kind, r.value, r.threshold, r.window, r.key, r.score, int(r.outcome) if r.outcome is not None else None,
                  r.shadow]
        return [self.cluster, self.size, self.rule, self.by, self.ts, self.sale, reason, list(self.members.items())]

    @classmethod
    def from_wire(cls, data: list) -> "Trigger":
        cluster, size, rule, by, ts, sale, r, members = data
        outcome = Outcome(r[7]) if r[7] is not None else None
        reason = Reason(r[0], r[1], r[2], r[3], r[4], r[5], r[6], outcome, r[8])
        return cls(cluster, size, rule, by, ts, sale, reason, dict(members))


class _Recent:
    """An order decided within ``escalate_within``: what escalation needs of it."""

    __slots__ = ("ts", "view", "decision", "considered")

    def __init__(self, ts: float, view: "OrderView", decision: Decision):
        self.ts = ts
        self.view = view
        self.decision = decision
        self.considered: list[str] = []  # cluster rules already weighed for this order


class Escalator:
    """Recent orders that a forcing cluster rule could escalate, and the recent triggers."""

    def __init__(self, within: float, checks: list["Check"], policy_action: Callable[[list[Reason]], tuple[Outcome, float]]):
        self.within = within
        self.checks = {c.id: c for c in checks}
        self.escalating = [c for c in checks if c.kind == "cluster" and c.outcome is not None]
        self.policy_action = policy_action
        self.outbox: list[Trigger] | None = None  # the stream collects triggers here instead of applying them
        self.verdicts: "VerdictLists | None" = None  # reviewers' snoozes the escalations respect (set by the engine)
        # Puts the rules in effect at an event time in place (set by an engine whose rule sets switch):
        # a trigger is weighed with its own time's rules whether it comes before or after the order
        self.rules_at: Callable[[float], None] | None = None
        self.last_kept = False  # whether the last order decided was kept (a rule could escalate it later)
        self._recent: dict[str, list[_Recent]] = {}  # account -> its recent orders
        # rule -> account -> its recent orders the rule selects and has not weighed yet: a ring's
        # trigger then costs one look-up per member whose orders were all weighed before
        self._open: dict[str, dict[str, list[_Recent]]] = {c.id: {} for c in self.escalating}
        # Recent triggers, by event time (and their times), for orders decided after a trigger from
        # later in event time (the stream's decide partitions run apart): see decided
        self._triggers: list[Trigger] = []
        self._trigger_times: list[float] = []
        self._trigger_arrivals: list[int] = []  # their arrival numbers: late orders weigh them in arrival order
        self._arrivals = 0
        # (rule, cluster) -> (the ring's last answer, its members the rule trusts)
        self._trusted: dict[tuple[str, str], tuple[dict, dict]] = {}
        self._accounts: TimeBuckets[str] = TimeBuckets(max(1.0, within / 4))  # accounts by their orders' times

    def could_escalate(self, view: "OrderView") -> bool:
        """Whether a forcing cluster rule could ever select this order (only those are kept)."""
        return bool(self._selecting(view))

    def _selecting(self, view: "OrderView") -> list[str]:
        """The forcing cluster rules that select this order."""
        return [c.id for c in self.escalating if c.gate is None or c.gate.select(view) is not None]

    def triggers(self, view: "OrderView", decision: Decision) -> list[Trigger]:
        """The triggers a decision makes: one per cluster rule among its reasons that forced an outcome."""
        facts = view.cluster
        if facts is None or facts.id is None:
            return []
        out = []
        for reason in decision.reasons:
            if reason.kind != "cluster" or reason.outcome is None:
                continue
            check = self.checks[reason.rule]
            gate = check.cluster_gate
            via = gate.via if gate is not None else None
            kinds_by_member = facts.kinds_by_member()
            if via is None:
                members = kinds_by_member
            else:  # a member in the cluster only through kinds the rule does not trust is left alone
                key = (check.id, facts.id)  # a ring's answer is shared while it holds: filter it once
                last = self._trusted.get(key)
                if last is not None and last[0] is kinds_by_member:
                    members = last[1]
                else:
                    isdisjoint = via.isdisjoint
                    members = {member: kinds for member, kinds in kinds_by_member.items() if not isdisjoint(kinds)}
                    if len(self._trusted) >= 10_000:
                        self._trusted.clear()
                    self._trusted[key] = (kinds_by_member, members)
            sale = view.sale.id if view.sale is not None else None
            out.append(Trigger(facts.id, facts.size, check.id, decision.order_id, view.event.ts, sale, reason, members))
        return out

    def decided(self, view: "OrderView", decision: Decision, decided_at: str) -> list[Decision]:
        """Note a new decision: its triggers escalate earlier orders (or go to the outbox), and the
        order itself is kept, and weighed against triggers that came before it, when a rule could select it.
        Returns new revisions (of earlier orders, and possibly of this one)."""
        out: list[Decision] = []
        for trigger in self.triggers(view, decision):
            if self.outbox is not None:
                self.outbox.append(trigger)
            else:
                out.extend(self.apply(trigger, decided_at))
        rules = self._selecting(view)
        self.last_kept = bool(rules)
        if not rules:
            return out
        entry = _Recent(view.event.ts, view, decision)
        account = view.event.account_id
        held = self._recent.get(account)
        if held is None:
            self._recent[account] = [entry]
            self._accounts.file_at(account, entry.ts)  # filed once, by its first order (the sweep files it again)
        else:
            held.append(entry)
        for rule in rules:
            waiting = self._open[rule]
            held = waiting.get(account)
            if held is None:
                waiting[account] = [entry]
            else:
                held.append(entry)
        times = self._trigger_times
        if not times or entry.ts >= times[-1]:  # no trigger from later in event time (in replay, the rule)
            return out
        at = bisect_right(times, entry.ts)
        later = sorted((n, t) for n, t in zip(self._trigger_arrivals[at:], self._triggers[at:])
                       if t.rule in rules and account in t.members)  # rules: those whose match selects it
        rules_at = self.rules_at
        for _, trigger in later:  # triggers from later in event time, seen first
            if rules_at is not None:
                rules_at(trigger.ts)  # its rules, as when it is applied to orders decided before it
            new = self._weigh(entry, trigger, trigger.members[account], decided_at)
            if new is not None:
                out.append(new)
        if rules_at is not None and later:
            rules_at(entry.ts)  # back to the order's own
        return out

    def apply(self, trigger: Trigger, decided_at: str) -> list[Decision]:
        """Escalate the earlier orders of the trigger's members; keep the trigger for orders decided later."""
        out = []
        ts, by, rule = trigger.ts, trigger.by, trigger.rule
        waiting = self._open.get(rule, {})
        members = trigger.members
        # Most members of a ring had all their orders weighed by its earlier triggers: find the
        # others with one set intersection, and visit them in the members' order.
        found = members.keys() & waiting.keys()
        for member in (found if len(found) < 2 else [m for m in members if m in found]):
            left = []
            for entry in waiting[member]:
                if rule in entry.considered:
                    continue  # weighed since (a trigger seen after the order, see decided)
                if entry.ts <= ts and entry.decision.order_id != by:  # _weigh checks the window
                    new = self._weigh(entry, trigger, members[member], decided_at)
                    if new is not None:
                        out.append(new)
                if rule not in entry.considered:
                    left.append(entry)
            if left:
                waiting[member] = left
            else:
                del waiting[member]
        times = self._trigger_times
        at = len(times) if not times or ts >= times[-1] else bisect_right(times, ts)
        times.insert(at, ts)
        self._triggers.insert(at, trigger)
        self._arrivals += 1
        self._trigger_arrivals.insert(at, self._arrivals)
        return out

    def replace(self, decision: Decision) -> None:
        """A kept order was decided again (its windows grew): later escalations start from this record."""
        for entry in self._recent.get(decision.account_id, ()):
            if entry.decision.order_id == decision.order_id:
                entry.decision = decision

    def _weigh(self, entry: _Recent, trigger: Trigger, kinds: list[str], decided_at: str) -> Decision | None:
        if trigger.rule in entry.considered or entry.ts <= trigger.ts - self.within:
            return None
        entry.considered.append(trigger.rule)
        old = entry.decision
        reason = trigger.reason
        target = reason.outcome
        assert target is not None
        if old.action >= target:  # (the rule's match selects the order: only such orders wait for it)
            return None
        if any(r.kind == VERDICT_KIND and r.outcome is not None for r in old.reasons):
            return None  # a reviewer's verdict fixed the outcome
        if self.verdicts is not None and self.verdicts.snoozed(trigger.rule, entry.view):
            return None  # a reviewer snoozed the rule for this account or entity
        check = self.checks[trigger.rule]
        if check.cluster_gate is not None and check.cluster_gate.per_sale:
            sale = entry.view.sale
            if sale is None or sale.id != trigger.sale:
                return None
        value = dict(reason.value) if isinstance(reason.value, dict) else {"value": reason.value}
        value["escalated_by"] = trigger.by
        added = Reason(reason.rule, reason.kind, value, reason.threshold, reason.window, reason.key,
                       reason.score, reason.outcome, reason.shadow)
        reasons = [*old.reasons, added]
        action, score = self.policy_action(reasons)
        # Which kinds of entity tie the account to the ring (the trigger's own record lists the entities).
        record = {"id": trigger.cluster, "size": trigger.size, "links": [{"kind": kind} for kind in kinds]}
        new = Decision(
            order_id=old.order_id, account_id=old.account_id, action=action, score=score, reasons=reasons,
            ruleset_version=old.ruleset_version, event_time=old.event_time, decided_at=decided_at,
            revision=old.revision + 1, shadow=old.shadow, shadow_action=old.shadow_action,
            model_version=old.model_version, model_score=old.model_score,
            cluster_id=trigger.cluster, cluster=record, sale=old.sale, amount=old.amount, currency=old.currency,
        )
        entry.decision = new
        return new

    def forget(self, keep: Callable[[str], bool]) -> None:
        """Forget the recent orders whose order id ``keep`` refuses (their partition went to another worker)."""
        for table in (self._recent, *self._open.values()):
            for account in list(table):
                entries = [x for x in table[account] if keep(x.decision.order_id)]
                if entries:
                    table[account] = entries
                else:
                    del table[account]

    def sweep(self, watermark: float) -> None:
        """Forget orders and triggers out of reach (older than ``escalate_within``)."""
        cut = watermark - self.within
        gone = bisect_right(self._trigger_times, cut)
        if gone:
            del self._triggers[:gone], self._trigger_times[:gone], self._trigger_arrivals[:gone]
        for _, accounts in self._accounts.expired(cut):
            for account in accounts:
                if account not in self._recent:
                    continue
                keep = _prune(self._recent, account, cut)
                if keep:
                    self._accounts.file_at(account, max(x.ts for x in keep))
                for waiting in self._open.values():  # each holds some of the account's recent orders
                    if account in waiting:
                        _prune(waiting, account, cut)

    def size(self) -> int:
        return sum(len(v) for v in self._recent.values())


def escalated_reasons(decision: Decision) -> list[Reason]:
    """The reasons a decision gained by escalation (they carry ``escalated_by``)."""
    return [r for r in decision.reasons if isinstance(r.value, dict) and "escalated_by" in r.value]


def _prune(table: dict[str, list[_Recent]], account: str, cut: float) -> list[_Recent]:
    """Keep only ``account``'s orders after ``cut`` in ``table`` (dropping it when none is left); those kept."""
    keep = [x for x in table[account] if x.ts > cut]
    if keep:
        table[account] = keep
    else:
        del table[account]
    return keep
