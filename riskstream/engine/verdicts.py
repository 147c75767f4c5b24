"""Reviewers' verdicts as list entries the policy applies, by event time.

Each :class:`~riskstream.verdicts.Verdict` becomes entries in :class:`VerdictLists`:

* **order entries** - the orders it names: frozen (``freeze``) or allowed
  (``release``, ``false_positive``), whatever their event time;
* **standing entries** - its accounts and entities: ``freeze`` puts them on the
  deny list (until ``expires_at``, if given); a release or false positive lifts
  that, and with ``expires_at`` (and no ``rule``) allows them until then;
* **snooze entries** - a release or false positive with a ``rule``: that rule
  stops firing for the accounts and entities until ``expires_at``.

A standing or snooze entry applies to an order whose event time is at or after the
verdict's ``event_time``; for each account, entity or (entity, rule) the latest
entry by verdict time (ties by verdict id) is the one that stands.  Of the order's
own entry and its accounts' and entities' standing entries, the latest verdict
decides: its outcome (freeze or allow) is final, whatever the rules said, with the
reason ``verdict by <reviewer>``.  ``escalate`` changes nothing.

Everything depends on event times and verdict ids only, never on when a verdict
arrived, so replay (verdicts merged by time with the orders) and the stream
(verdicts as they come, earlier decisions revised) reach the same decisions.
Verdicts are idempotent: a verdict id seen before is ignored.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..decisions import Decision, Outcome, Reason
from ..events import EventError
from ..verdicts import Verdict, VerdictAction

if TYPE_CHECKING:
    from .order_view import OrderView

__all__ = ["VERDICT_KIND", "VerdictLists", "verdict_reasons"]

VERDICT_KIND = "verdict"  #: the ``kind`` (and ``rule``) of the reasons verdicts add to decisions
_DENY, _ALLOW, _LIFT, _SNOOZE = "deny", "allow", "lift", "snooze"


@dataclass(slots=True, frozen=True)
class _Entry:
    ts: float
    verdict_id: str
    effect: str
    expires: float | None
    verdict: Verdict

    @property
    def rank(self) -> tuple[float, str]:
        return self.ts, self.verdict_id

    def __lt__(self, other: "_Entry") -> bool:  # (for insort)
        return (self.ts, self.verdict_id) < (other.ts, other.verdict_id)

    def holds_at(self, ts: float) -> bool:
        return self.expires is None or ts < self.expires


class VerdictLists:
    """Deny, allow and snooze entries from verdicts, looked up by an order's event time."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.count = 0  #: verdicts with at least one entry (``escalate`` has none)
        self._orders: dict[str, list[_Entry]] = {}
        self._standing: dict[tuple[str, str], list[_Entry]] = {}  # (kind, key) -> entries; kind "account" too
        self._snoozes: dict[tuple[str, str, str], list[_Entry]] = {}  # (kind, key, rule) -> entries
        self._kinds: set[str] = set()  # entity kinds named by standing or snooze entries (besides account)
        self._snoozed_rules: set[str] = set()
        self.suspended = False  # while True, decisions ignore the lists (a worker rebuilding what it published)

    def __bool__(self) -> bool:
        return self.count > 0 and not self.suspended

    def add(self, verdict: Verdict) -> bool:
        """File a verdict's entries; False when its id was seen before (nothing changes)."""
        if verdict.verdict_id in self.ids:
            return False
        self.ids.add(verdict.verdict_id)
        action = verdict.action
        if action is VerdictAction.ESCALATE:
            return True
        self.count += 1
        at, vid = verdict.ts, verdict.verdict_id
        for order_id in verdict.orders:
            effect = _DENY if action is VerdictAction.FREEZE else _ALLOW
            insort(self._orders.setdefault(order_id, []), _Entry(at, vid, effect, None, verdict))
        covered = [("account", a) for a in verdict.accounts] + [(e.kind, e.key) for e in verdict.entities]
        if action is VerdictAction.FREEZE:
            standing = _Entry(at, vid, _DENY, verdict.expires_ts, verdict)
        elif verdict.expires_ts is not None and verdict.rule is None:
            standing = _Entry(at, vid, _ALLOW, verdict.expires_ts, verdict)
        else:
            standing = _Entry(at, vid, _LIFT, None, verdict)
        for kind, key in covered:
            if kind != "account":
                self._kinds.add(kind)
            insort(self._standing.setdefault((kind, key), []), standing)
            if verdict.rule is not None:
                self._snoozed_rules.add(verdict.rule)
                entry = _Entry(at, vid, _SNOOZE, verdict.expires_ts, verdict)
                insort(self._snoozes.setdefault((kind, key, verdict.rule), []), entry)
        return True

    def may_affect(self, order_id: str, account_id: str, keys: dict[str, str | None]) -> bool:
        """A cheap first test: could any entry touch this order?  ``keys``: entity pseudonyms known
        for it (an entity kind the lists name that is not among them counts as could)."""
        if order_id in self._orders or ("account", account_id) in self._standing:
            return True
        standing = self._standing
        return any(kind not in keys or (kind, keys[kind]) in standing for kind in self._kinds)

    def covers(self, verdict: Verdict, view: "OrderView") -> bool:
        """Does ``verdict`` name this order, or one of its accounts or entities at or before its event time?"""
        event = view.event
        if event.order_id in verdict.orders:
            return True
        if event.ts < verdict.ts:
            return False
        if event.account_id in verdict.accounts:
            return True
        return any(_entity(view, e.kind) == e.key for e in verdict.entities)

    def judge(self, view: "OrderView", reasons: list[Reason]) -> list[Reason]:
        """The order's reasons with the verdicts applied: snoozed rules dropped (a note in their
        place) and, when a verdict stands for the order, its reason (which fixes the outcome)."""
        event = view.event
        ts = event.ts
        best: tuple[_Entry, str] | None = None
        entries = self._orders.get(event.order_id)
        if entries:
            best = (entries[-1], "order")
        for kind, key in self._keys(view):
            entry = _standing_at(self._standing.get((kind, key)), ts)
            if entry is not None and (best is None or entry.rank > best[0].rank):
                best = (entry, kind)
        out = reasons
        if self._snoozed_rules and any(r.rule in self._snoozed_rules for r in reasons):
            out, notes = [], []
            keys = list(self._keys(view))
            for reason in reasons:
                snooze = self._snooze(reason.rule, keys, ts) if reason.rule in self._snoozed_rules else None
                if snooze is None:
                    out.append(reason)
                else:
                    notes.append(_reason(snooze[0].verdict, snooze[1], None, snoozed=reason.rule))
            out.extend(notes)
        if best is not None and best[0].effect in (_DENY, _ALLOW):
            entry, kind = best
            outcome = Outcome.FREEZE if entry.effect == _DENY else Outcome.ALLOW
            out = [*out, _reason(entry.verdict, kind, outcome)]
        return out

    def snoozed(self, rule: str, view: "OrderView") -> bool:
        """Is ``rule`` snoozed for this order's account or entities at its event time?"""
        if rule not in self._snoozed_rules:  # (also while suspended: escalations never see a snoozed rule)
            return False
        return self._snooze(rule, list(self._keys(view)), view.event.ts) is not None

    def unsnoozed(self, reasons: list[Reason], view: "OrderView") -> list[Reason]:
        """``reasons`` without those of rules snoozed for this order (escalated reasons carried over)."""
        if not self._snoozed_rules:
            return reasons
        return [r for r in reasons if not self.snoozed(r.rule, view)]

    def revise(self, view: "OrderView", decision: Decision, policy_action: Any, decided_at: str) -> Decision | None:
        """A new revision of ``decision`` with the lists applied as they are now, or None when nothing changes.

        The decision's reasons are taken as the rules left them (verdict reasons
        replaced); a rule a snooze dropped stays dropped, which is exact because a
        snooze applies from its verdict's event time and that time never moves."""
        base = [r for r in decision.reasons if r.kind != VERDICT_KIND]
        reasons = self.judge(view, base)
        old = {(r.rule, r.kind, _value_key(r.value)) for r in decision.reasons}
        if {(r.rule, r.kind, _value_key(r.value)) for r in reasons} == old:
            return None
        action, score = policy_action(reasons)
        return Decision(
            order_id=decision.order_id, account_id=decision.account_id, action=action, score=score, reasons=reasons,
            ruleset_version=decision.ruleset_version, event_time=decision.event_time, decided_at=decided_at,
            revision=decision.revision + 1, shadow=decision.shadow, shadow_action=decision.shadow_action,
            model_version=decision.model_version, model_score=decision.model_score,
            cluster_id=decision.cluster_id, cluster=decision.cluster, sale=decision.sale, amount=decision.amount,
            currency=decision.currency,
        )

    def _keys(self, view: "OrderView"):
        yield "account", view.event.account_id
        for kind in self._kinds:
            key = _entity(view, kind)
            if key is not None:
                yield kind, key

    def _snooze(self, rule: str, keys: list[tuple[str, str]], ts: float) -> tuple[_Entry, str] | None:
        found = None
        for kind, key in keys:
            entries = self._snoozes.get((kind, key, rule))
            entry = _latest_at(entries, ts) if entries else None
            if entry is not None and entry.holds_at(ts) and (found is None or entry.rank > found[0].rank):
                found = (entry, kind)
        return found

    def size(self) -> dict[str, int]:
        return {"verdicts": len(self.ids), "order_entries": len(self._orders),
                "standing_entries": len(self._standing), "snooze_entries": len(self._snoozes)}


def verdict_reasons(decision: Decision) -> list[Reason]:
    """The reasons verdicts gave a decision."""
    return [r for r in decision.reasons if r.kind == VERDICT_KIND]


def _entity(view: "OrderView", kind: str) -> str | None:
    try:
        return view.entity(kind)
    except EventError:  # a value the rules never read and that does not parse (an IP that is not one)
        return None


def _latest_at(entries: list[_Entry], ts: float) -> _Entry | None:
    """The latest entry filed at or before ``ts`` (entries are sorted; lists are short)."""
    for entry in reversed(entries):
        if entry.ts <= ts:
            return entry
    return None


def _standing_at(entries: list[_Entry] | None, ts: float) -> _Entry | None:
    """The standing entry that holds at ``ts``: the latest one, unless it was a lift or has expired."""
    if not entries:
        return None
    entry = _latest_at(entries, ts)
    if entry is None or not entry.holds_at(ts):
        return None
    return entry


def _reason(verdict: Verdict, kind: str, outcome: Outcome | None, snoozed: str | None = None) -> Reason:
    value: dict[str, Any] = {"reason": verdict.reason_text, "verdict_id": verdict.verdict_id,
                             "action": verdict.action.value}
    if snoozed is not None:
        value["snoozed"] = snoozed
    if verdict.case_id is not None:
        value["case_id"] = verdict.case_id
    return Reason(VERDICT_KIND, VERDICT_KIND, value, key=kind, outcome=outcome)


def _value_key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=repr)
