"""The entities stage (per ``risk-touches`` partition): touches counted in sliding windows, idempotently."""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from typing import Hashable, Iterable

from ...engine import DecisionEngine
from .wire import Signal, Touch, key_from_wire, partition_of

__all__ = ["Entities", "TouchLedger"]


class TouchLedger:
    """Which touches each key has counted, and when.

    It makes counting idempotent (a touch delivered twice is counted once) and
    finds the orders a late touch affects: those of the same key with a later
    time inside the window, whose aggregates just grew.

    Like the windows it follows, it holds at most ``max_keys`` keys: past
    that, the keys first seen longest ago are forgotten (``evicted`` counts
    them), with the touches they counted.
    """

    def __init__(self, horizon: float, max_keys: int = 1 << 62):
        self.horizon = horizon  # window + grace: older entries are dropped
        self.max_keys = max_keys
        self.evicted = 0
        self.keys: dict[tuple[int, Hashable], list[tuple[float, str, int]]] = {}
        self.counted: set[tuple[str, int]] = set()
        self.watermark = float("-inf")
        self._adds = 0

    def seen(self, order_id: str, n: int) -> bool:
        return (order_id, n) in self.counted

    def record(self, tracker: int, key: Hashable, t: float, order_id: str, n: int) -> bool:
        """Note a counted touch; True when it arrived late (after a later touch of its key)."""
        entries = self.keys.get((tracker, key))
        if entries is None:
            entries = self.keys[(tracker, key)] = []
            if len(self.keys) > self.max_keys:
                self._forget_oldest()
        late = bool(entries) and entries[-1][0] > t
        if late:
            bisect.insort(entries, (t, order_id, n))
        else:
            entries.append((t, order_id, n))
        self.counted.add((order_id, n))
        self.watermark = max(self.watermark, t)
        self._adds += 1
        if self._adds % 50_000 == 0:
            self.sweep()
        return late

    def later(self, tracker: int, key: Hashable, t: float, length: float) -> list[tuple[float, str, int]]:
        """Touches of ``key`` with time in ``(t, t + length)``: their windows include ``t``."""
        entries = self.keys.get((tracker, key), [])
        lo = bisect.bisect_right(entries, (t, "\uffff", 1 << 30))
        hi = bisect.bisect_left(entries, (t + length, "", -1))
        return entries[lo:hi]

    def _forget_oldest(self) -> None:
        """Forget the keys first seen longest ago until a tenth of ``max_keys`` is free."""
        keys, counted = self.keys, self.counted
        drop = len(keys) - max(1, self.max_keys - max(1, self.max_keys // 10))
        for old in list(itertools.islice(keys, drop)):
            for _, order_id, n in keys.pop(old):
                counted.discard((order_id, n))
        self.evicted += drop

    def sweep(self) -> None:
        cut = self.watermark - self.horizon
        for key in list(self.keys):
            entries = self.keys[key]
            if entries[0][0] > cut:
                continue
            keep = bisect.bisect_right(entries, (cut, "\uffff", 1 << 30))
            for _, order_id, n in entries[:keep]:
                self.counted.discard((order_id, n))
            if keep == len(entries):
                del self.keys[key]
            else:
                del entries[:keep]


class Entities:
    """Count touches in the windows of the keys this partition owns.

    A touch that arrives after a later touch of its key (orders of one IP
    reaching this partition from different account partitions out of time
    order) is counted at its own time, and every later order of the key whose
    window now holds it gets an updated signal, so final decisions do not
    depend on arrival order.
    """

    def __init__(self, engine: DecisionEngine, signal_partitions: int):
        self.engine = engine
        self.signal_partitions = signal_partitions
        longest = max((t.window.length + t.window.grace for t in engine.trackers), default=0.0)
        self.ledger = TouchLedger(longest, max_keys=engine.window_key_cap * max(1, len(engine.trackers)))

    def run(self, touches: Iterable[Touch]) -> dict[int, list[Signal]]:
        """Signals per ``risk-signals`` partition.

        A touch already counted (sent again by a screen that restarted before
        committing) yields nothing: its signal went out when it was first
        counted, or goes out when that first delivery is processed again.
        """
        out: dict[int, list[Signal]] = defaultdict(list)
        engine, ledger = self.engine, self.ledger
        trackers = engine.trackers
        partitions = self.signal_partitions
        for order_id, tracker, n, key, t, qty, amount, value in touches:
            engine.observe(t)
            if ledger.seen(order_id, n):
                continue
            window = trackers[tracker].window
            key = key_from_wire(key)
            agg = window.add(key, t, qty, amount, value)
            if ledger.record(tracker, key, t, order_id, n):
                for later_t, later_id, later_n in ledger.later(tracker, key, t, window.length):
                    update = [later_id, later_n, *window.peek(key, later_t)]
                    out[partition_of(later_id, partitions)].append(update)
            out[partition_of(order_id, partitions)].append([order_id, n, *agg])
        return out

    def evictions(self) -> dict[str, int]:
        """Keys evicted under the cardinality caps: per window (by its key) and the ledger's."""
        out = {"touch-ledger": self.ledger.evicted}
        for tracker in self.engine.trackers:
            name = f"window:{tracker.label}:{tracker.window.length:g}s"
            out[name] = out.get(name, 0) + tracker.window.evicted
        return out

    def restore(self, touches: Iterable[Touch]) -> None:
        """Rebuild windows from touch batches counted before a restart."""
        engine, ledger = self.engine, self.ledger
        trackers = engine.trackers
        for order_id, tracker, n, key, t, qty, amount, value in touches:
            engine.observe(t)
            key = key_from_wire(key)
            if not ledger.seen(order_id, n):
                trackers[tracker].window.add(key, t, qty, amount, value)
                ledger.record(tracker, key, t, order_id, n)
