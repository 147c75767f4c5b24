"""The graph stage (one instance): every order's new links, applied in event-time order."""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from typing import Iterable

from ...engine import DecisionEngine
from ...engine.order_ids import OrderIds
from .wire import partition_of

__all__ = ["GraphStage"]


class GraphStage:
    """The one graph instance: every order's new links, applied in event-time order.

    Screens on every ``orders`` partition send, per batch, the links of the
    orders they screened with their progress: the partition, the newest event
    time and the last offset screened.  Orders reach this stage from many
    partitions out of time order, so entries wait in a buffer until every
    partition has passed their event time (the *watermark*) and are then
    applied oldest first, as replay applies them, each answered with a
    :class:`~riskstream.engine.clusters.ClusterSnapshot` sent to the order's
    ``risk-signals`` partition.

    A partition with nothing left to screen would hold the watermark back for
    ever, so the worker owning this stage checks the ``orders`` end offsets
    now and then and sends a *caught-up* marker through this stage's own
    topic (:meth:`caught_up`): a partition whose last screened offset reached
    its end is known to have nothing up to the newest event time this stage
    had heard of *before* the end offsets were read (the marker's ``upto``,
    :attr:`horizon`), and its progress moves up to that time.  Orders are
    published roughly in event-time order, so an order of that partition
    with an earlier time was published before the orders this stage had
    heard of, and would have been among the end offsets read.  Beyond that
    time the partition holds the watermark again: after a pause (the sale's
    open), the first partition to speak again does not run ahead of a quiet
    one whose next orders are earlier but still on their way.  Markers
    travel in order with the links and carry their time, so a restart that
    reads the topic again rebuilds exactly the same graph and buffer.  An
    order id seen twice (a screen that restarted before committing sends its
    batch again) is applied once.
    """

    def __init__(self, engine: DecisionEngine, order_partitions: int, signal_partitions: int):
        if engine.graph is None:
            raise ValueError("the rule set keeps no graph")
        self.engine = engine
        self.step = engine.graph
        self.signal_partitions = signal_partitions
        self.upto = [float("-inf")] * order_partitions  # newest event time screened per orders partition
        self.offsets = [-1] * order_partitions  # last offset screened per orders partition
        self.heard = [0.0] * order_partitions  # monotonic time of each partition's last message (for markers only)
        self.buffer: list[tuple[float, int, list]] = []  # (event time, arrival, entry), a heap
        self._arrival = 0
        self._first_time = OrderIds(engine.dedup_horizon).first_time

    @property
    def buffered(self) -> int:
        return len(self.buffer)

    @property
    def watermark(self) -> float:
        return min(self.upto)

    @property
    def horizon(self) -> float:
        """The newest event time heard from any partition: a caught-up marker's ``upto``, read
        before the end offsets it is checked against."""
        return max(self.upto)

    def run(self, messages: Iterable[dict]) -> dict[int, list]:
        """Take screens' messages (and markers); cluster snapshots per ``risk-signals`` partition."""
        for message in messages:
            marks = message.get("caught_up")
            if marks is not None:
                # A marker without its time (written before markers had one) covers what came before it.
                upto = message.get("upto")
                if upto is None:
                    upto = self.horizon
                for p, end in marks:
                    if self.offsets[p] + 1 >= end and upto > self.upto[p]:
                        self.upto[p] = upto
                continue
            p = message["p"]
            self.heard[p] = time.monotonic()
            self.offsets[p] = max(self.offsets[p], message["offset"])
            if message["upto"] is not None and message["upto"] > self.upto[p]:
                self.upto[p] = message["upto"]
            for entry in message["links"]:
                if self._first_time(entry[0], entry[2]):
                    heapq.heappush(self.buffer, (entry[2], self._arrival, entry))
                    self._arrival += 1
        return self._release()

    def restore(self, messages: Iterable[dict]) -> None:
        """Rebuild the graph and the buffer from this stage's topic (nothing is sent again)."""
        self.run(messages)

    def caught_up(self, ends: dict[int, int], quiet: float = 0.0, upto: float | None = None) -> list[list[int]]:
        """Partitions (and their end offsets) screened to the end, and silent for ``quiet``
        seconds, that hold the watermark below ``upto`` (default :attr:`horizon`): the
        content of a caught-up marker sent with that ``upto``.  Read ``upto`` before ``ends``.

        Under load every partition speaks every batch, so the watermark moves
        with event time and links are applied in order; ``quiet`` keeps a
        partition that is merely between two batches from being moved on."""
        now = time.monotonic()
        upto = self.horizon if upto is None else upto
        return [[p, end] for p, end in sorted(ends.items())
                if self.upto[p] < upto and self.offsets[p] + 1 >= end and now - self.heard[p] >= quiet]

    def _release(self) -> dict[int, list]:
        out: dict[int, list] = defaultdict(list)
        watermark = self.watermark
        buffer, step, engine = self.buffer, self.step, self.engine
        partitions = self.signal_partitions
        while buffer and buffer[0][0] <= watermark:
            ts, _, entry = heapq.heappop(buffer)
            engine.observe(ts)  # ages flash tallies out
            snapshot = step.snapshot(entry, step.apply(entry))
            out[partition_of(entry[0], partitions)].append([entry[0], snapshot])
        return out
