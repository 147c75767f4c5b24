"""Reviewers' verdicts in a replay (``riskstream replay --verdicts FILE``), merged by time with the orders.

A verdict is filed in the engine's lists just before the first order at or
after its ``event_time`` is decided, so every order sees the verdicts given
up to its own time, as the stream's workers apply them.  Orders a verdict names
that were decided before it was filed get a new revision, right after the
decision during which it was filed; verdicts later than the last order are
filed at the end.  The lists depend on event times alone, so the final
decisions are those of the workers given the same orders and verdicts.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable

from ..decisions import Decision
from ..engine import DecisionEngine
from ..events import parse_order
from ..verdicts import Verdict

__all__ = ["VerdictSchedule"]


class VerdictSchedule:
    """Verdicts waiting for their time in a replay, and the revisions filing them caused."""

    def __init__(self, engine: DecisionEngine, verdicts: Iterable[Verdict]):
        self.engine = engine
        ordered = sorted(verdicts, key=lambda v: (v.ts, v.verdict_id))
        self.waiting: deque[Verdict] = deque(ordered)
        self.watched = {order_id for v in ordered for order_id in v.orders}  # orders a verdict may revise
        self.decided: dict[str, tuple[dict[str, Any], Decision]] = {}
        self.outbox: list[Decision] = []  # revisions made since the last take()
        self.filed = 0
        self.repeated = 0  # verdict ids seen before (kept once)

    def before(self, ts: float) -> None:
        """File every verdict at or before ``ts`` (an order of that time is about to be decided)."""
        waiting = self.waiting
        while waiting and waiting[0].ts <= ts:
            self._file(waiting.popleft())

    def finish(self) -> None:
        """File the verdicts later than every order."""
        while self.waiting:
            self._file(self.waiting.popleft())

    def note(self, data: dict[str, Any] | None, decision: Decision) -> None:
        """Keep the latest decision of an order a verdict names (``data``: the order, None for a revision)."""
        order_id = decision.order_id
        if order_id in self.watched:
            known = self.decided.get(order_id)
            if data is None and known is None:
                return
            self.decided[order_id] = (data if data is not None else known[0], decision)  # type: ignore[index]

    def take(self) -> list[Decision]:
        out, self.outbox = self.outbox, []
        return out

    def _file(self, verdict: Verdict) -> None:
        engine = self.engine
        if not engine.add_verdict(verdict):
            self.repeated += 1
            return
        self.filed += 1
        escalator = engine.graph.escalator if engine.graph is not None else None
        for order_id in verdict.orders:
            known = self.decided.get(order_id)
            if known is None:
                continue  # not decided yet: it will see the verdict (or it is not in this history)
            data, decision = known
            revision = engine.revise(engine.view(parse_order(data)), decision)
            if revision is None:
                continue
            self.decided[order_id] = (data, revision)
            if escalator is not None:
                escalator.replace(revision)
            self.outbox.append(revision)
