"""The mass-freeze safety cap: a broad rule cannot freeze a whole sale.

A freeze stops an order and locks the account, so a rule that matches too
much does damage that a reviewer must undo by hand.  The rule set's header
bounds it (``ruleset.safety`` in the rule files)::

    ruleset:
      safety:
        max_cluster_accounts: 100     # a freeze of an order whose cluster is larger is held instead
        max_freezes_per_minute: 300   # freezes within any minute of event time beyond this are held

A decision (or an escalated revision) that would freeze past either limit is
downgraded to ``hold`` - still stopped, and flagged, so it goes to review -
and carries a ``safety_cap`` reason naming the limit.  The cap is sticky:
once an order was held by it, later revisions of that order are held too.

Both limits read event time and the decisions' own content (the cluster's
size is in the decision record), never the wall clock, so replaying the
same ordered input gives the same holds.  The cluster limit reads nothing
else, so the stream holds by it what replay holds: the size is the order's
cluster when it was decided, or for an escalated revision the ring of the
trigger that escalated it (decided again later, the order keeps that ring).
One caveat: an order is escalated once per rule, by the first of that rule's
triggers to reach it, and two triggers of one rule from different decide
partitions may reach it in another order than replay made them, with rings
of different sizes on either side of the limit.  The per-minute count is
kept by each engine over the freezes it has let through so far: in the
stream, each worker's decide engine counts the orders of the partitions it
holds, in the order it decides them, so there ``max_freezes_per_minute``
bounds each worker, and when it binds the orders held are not always those
replay holds.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from datetime import datetime

from ..decisions import Decision, Outcome, Reason
from ..rules.model import FreezeCap

__all__ = ["CAP_KIND", "CAP_RULE", "FreezeGuard", "capped"]

CAP_KIND = "safety_cap"
CAP_RULE = "safety-cap"
MINUTE = 60.0


def capped(decision: Decision) -> bool:
    """True when the safety cap downgraded this decision."""
    return any(r.kind == CAP_KIND for r in decision.reasons)


class FreezeGuard:
    """Applies a rule set's :class:`FreezeCap` to decisions, counting the freezes it lets through."""

    def __init__(self, cap: FreezeCap):
        self.max_accounts = cap.max_cluster_accounts
        self.max_rate = cap.max_freezes_per_minute
        self.enabled = self.max_accounts is not None or self.max_rate is not None
        self._frozen: set[str] = set()  # order ids frozen (counted once each)
        self._times: list[float] = []  # their event times, sorted
        self.held = 0  # decisions downgraded so far

    def apply(self, decision: Decision, ts: float | None = None) -> Decision:
        """Downgrade ``decision`` in place when a freeze passes a limit; ``ts`` is its event time."""
        if decision.action is not Outcome.FREEZE or not self.enabled:
            return decision
        if ts is None:
            ts = datetime.fromisoformat(decision.event_time).timestamp()
        earlier = next((r for r in decision.reasons if r.kind == CAP_KIND), None)
        if earlier is not None:
            return self._hold(decision, None)
        if decision.order_id in self._frozen:
            return decision  # already frozen and counted: a revision of a freeze
        size = int(decision.cluster["size"]) if decision.cluster else 1
        if self.max_accounts is not None and size > self.max_accounts:
            return self._hold(decision, {"limit": "max_cluster_accounts", "cluster_size": size,
                                         "would_be": "freeze"}, self.max_accounts)
        if self.max_rate is not None:
            self._forget(ts - MINUTE * 2)
            times = self._times
            recent = bisect_right(times, ts) - bisect_right(times, ts - MINUTE)
            if recent >= self.max_rate:
                return self._hold(decision, {"limit": "max_freezes_per_minute", "freezes_in_minute": recent,
                                             "would_be": "freeze"}, self.max_rate)
        self._frozen.add(decision.order_id)
        insort(self._times, ts)
        return decision

    def take_held(self) -> int:
        """Decisions downgraded since the last call (for the worker's metrics)."""
        held, self.held = self.held, 0
        return held

    def _hold(self, decision: Decision, value: dict | None, threshold: int | None = None) -> Decision:
        decision.action = Outcome.HOLD
        if value is not None:
            decision.reasons.append(Reason(CAP_RULE, CAP_KIND, value, threshold, outcome=Outcome.HOLD))
            self.held += 1
        return decision

    def _forget(self, cut: float) -> None:
        """Drop counted freezes too old to matter (orders come at most a little out of event order)."""
        times = self._times
        if times and times[0] < cut - 3600.0:
            del times[:bisect_right(times, cut - 3600.0)]
        if len(self._frozen) > 500_000:
            self._frozen.clear()  # only de-duplicates revisions of recent freezes
