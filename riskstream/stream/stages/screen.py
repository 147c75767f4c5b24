"""The screen stage (per ``orders`` partition): validate, de-duplicate, route touches, plans and links."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from ...engine import DecisionEngine
from ...events import EventError, decode, parse_order
from ...model.features import FeatureExtractor
from .wire import Touch, key_text, partition_of

__all__ = ["DeadLetter", "OrderIds", "Screen", "ScreenOutput"]


class OrderIds:
    """Order ids seen within ``horizon`` seconds of event time, to apply each order once."""

    def __init__(self, horizon: float):
        self.horizon = horizon
        self.seen: dict[str, float] = {}  # order id -> event time
        self._sweep_at = 0

    def first_time(self, order_id: str, ts: float) -> bool:
        """True the first time ``order_id`` is seen (and remembers it)."""
        if order_id in self.seen:
            return False
        self.seen[order_id] = ts
        if len(self.seen) >= self._sweep_at:
            cut = max(self.seen.values()) - self.horizon
            self.seen = {k: v for k, v in self.seen.items() if v > cut}
            self._sweep_at = 2 * len(self.seen) + 10_000
        return True


@dataclass
class DeadLetter:
    """A bad event: its original bytes and why it was refused."""

    raw: bytes
    reason: str
    field: str | None
    partition: int
    offset: int

    def headers(self, topic: str) -> list[tuple[str, bytes]]:
        return [
            ("reason", self.reason.encode()),
            ("field", (self.field or "").encode()),
            ("source_topic", topic.encode()),
            ("source_partition", str(self.partition).encode()),
            ("source_offset", str(self.offset).encode()),
        ]


@dataclass
class ScreenOutput:
    touches: dict[int, list[Touch]] = field(default_factory=lambda: defaultdict(list))  # touches partition ->
    plans: dict[int, list[dict]] = field(default_factory=lambda: defaultdict(list))  # signals partition ->
    dead: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0
    graph: list[dict] = field(default_factory=list)  # to the graph stage: per source partition, links and progress


class Screen:
    """Validate orders, drop repeated order ids, route touches and plans."""

    def __init__(self, engine: DecisionEngine, touch_partitions: int, signal_partitions: int,
                 features: FeatureExtractor | None = None):
        self.engine = engine
        self.touch_partitions = touch_partitions
        self.signal_partitions = signal_partitions
        self.features = features  # with the model: the engine's feature windows and account timing
        self.graph = engine.graph  # with a graph: each order's new links go to the graph stage
        if self.graph is not None:
            by_person = [t.label for t in engine.trackers if "person" in t.key or t.of == "person"]
            if by_person:
                raise ValueError(
                    "velocity windows keyed by `person` cannot run in the stream when the rules keep a graph "
                    f"(the cluster is known only after the order is counted): {', '.join(by_person)}; "
                    "use a purchase_limit per person, or key the window by account")
        self._first_time = OrderIds(engine.dedup_horizon).first_time

    def restore(self, messages: Iterable[bytes | None]) -> None:
        """Remember the order ids screened before a restart."""
        for raw in messages:
            try:
                event = parse_order(decode(raw or b""))
            except EventError:
                continue
            if not self._first_time(event.order_id, event.ts):
                continue
            if self.features is not None:
                self.features.rhythm.observe(event.account_id, event.ts)
            if self.graph is not None:
                self.graph.entry(self.engine.view(event), trigger=False)  # the links passed on before, as they were

    def run(self, messages: Iterable[tuple[bytes | None, int, int]]) -> ScreenOutput:
        """``messages`` are ``(value, partition, offset)`` from the orders topic."""
        out = ScreenOutput()
        engine = self.engine
        graph = self.graph
        progress: dict[int, dict] = {}
        for raw, partition, offset in messages:
            if graph is not None:
                mark = progress.get(partition)
                if mark is None:
                    mark = progress[partition] = {"p": partition, "upto": None, "offset": offset, "links": []}
                mark["offset"] = max(mark["offset"], offset)
            try:
                data = decode(raw or b"")
                event = parse_order(data)
                if not self._first_time(event.order_id, event.ts):
                    out.duplicates += 1
                    continue
                view = engine.view(event)
                touches = [(i, spec) for i, tracker in enumerate(engine.trackers) for spec in tracker.touches(view)]
            except EventError as exc:
                out.dead.append(DeadLetter(bytes(raw or b""), exc.problem, exc.field, partition, offset))
                continue
            for n, (tracker, (key, qty, amount, value)) in enumerate(touches):
                text = f"{tracker}\x1e{key_text(key)}"
                out.touches[partition_of(text, self.touch_partitions)].append(
                    [event.order_id, tracker, n, key, event.ts, qty, amount, value]
                )
            plan = {"order": data, "trackers": [tracker for tracker, _ in touches]}
            if self.features is not None:
                plan["rhythm"] = self.features.observe(view)
            if graph is not None:
                plan["graph"] = True  # wait for the order's cluster from the graph stage
                mark["links"].append(graph.entry(view))
                if mark["upto"] is None or event.ts > mark["upto"]:
                    mark["upto"] = event.ts
            plan["keys"] = view.keys()  # the decide stage need not key the entities again
            out.plans[partition_of(event.order_id, self.signal_partitions)].append(plan)
        out.graph = list(progress.values())
        return out
