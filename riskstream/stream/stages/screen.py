"""The screen stage (per ``orders`` partition): validate, de-duplicate, route touches, plans and links."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

import orjson

from ...engine import DecisionEngine
from ...engine.order_ids import NEW, REUSED, OrderIds
from ...events import REUSED_ID, EventError, check_not_ahead, decode, order_digest, parse_order
from ...model.features import FeatureExtractor
from ...settings import settings_from_env
from .wire import Sealer, Touch, key_text, partition_of, private_order

__all__ = ["MAX_DEAD_BYTES", "DeadLetter", "Screen", "ScreenOutput", "reused_letters"]

MAX_DEAD_BYTES = 900_000  #: of an event's bytes kept in its dead letter


@dataclass
class DeadLetter:
    """A bad event: its original bytes and why it was refused.

    Bytes beyond :data:`MAX_DEAD_BYTES` (an event the broker accepted but the
    parser refuses for its size) are cut off, so the dead letter still fits
    the worker's producer requests (1,000,000 bytes with the headers); the
    ``original_size`` header tells.
    """

    raw: bytes
    reason: str
    field: str | None
    partition: int
    offset: int

    @property
    def value(self) -> bytes:
        return self.raw if len(self.raw) <= MAX_DEAD_BYTES else self.raw[:MAX_DEAD_BYTES]

    def headers(self, topic: str) -> list[tuple[str, bytes]]:
        out = [
            ("reason", self.reason.encode()),
            ("field", (self.field or "").encode()),
            ("source_topic", topic.encode()),
            ("source_partition", str(self.partition).encode()),
            ("source_offset", str(self.offset).encode()),
        ]
        if len(self.raw) > MAX_DEAD_BYTES:
            out.append(("original_size", str(len(self.raw)).encode()))
        return out


def reused_letters(orders: Iterable[dict], message: Any) -> list[DeadLetter]:
    """Dead letters for orders the decide stage refused (:meth:`.Decide.take_reused`); the
    source is the risk-signals message of the batch that found them."""
    return [DeadLetter(orjson.dumps(order), REUSED_ID, "order_id", message.partition, message.offset)
            for order in orders]


@dataclass
class ScreenOutput:
    touches: dict[int, list[Touch]] = field(default_factory=lambda: defaultdict(list))  # touches partition ->
    plans: dict[int, list[dict]] = field(default_factory=lambda: defaultdict(list))  # signals partition ->
    dead: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0
    graph: list[dict] = field(default_factory=list)  # to the graph stage: per source partition, links and progress


class Screen:
    """Validate orders, drop repeated order ids, route touches and plans.

    An order id seen again with other content is a dead letter
    (:data:`~riskstream.events.REUSED_ID`); an order stamped more than
    ``max_ahead`` seconds after the wall clock too (``RISKSTREAM_MAX_AHEAD_SECONDS``).
    """

    def __init__(self, engine: DecisionEngine, touch_partitions: int, signal_partitions: int,
                 features: FeatureExtractor | None = None, max_ahead: float | None = None):
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
        self.order_ids = OrderIds(engine.dedup_horizon)
        self.sealer = Sealer(engine.keys.secret)  # the plans' private fields (see wire.private_order)
        self.max_ahead = settings_from_env().max_ahead_seconds if max_ahead is None else max_ahead

    def restore(self, messages: Iterable[bytes | None]) -> None:
        """Remember the order ids screened before a restart."""
        for raw in messages:
            try:
                data = decode(raw or b"")
                event = parse_order(data)
            except EventError:
                continue
            if self.order_ids.check(event.order_id, event.ts, order_digest(data)) != NEW:
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
        check_id = self.order_ids.check
        now, max_ahead = time.time(), self.max_ahead
        for raw, partition, offset in messages:
            if graph is not None:
                mark = progress.get(partition)
                if mark is None:
                    mark = progress[partition] = {"p": partition, "upto": None, "offset": offset, "links": []}
                mark["offset"] = max(mark["offset"], offset)
            try:
                data = decode(raw or b"")
                event = parse_order(data)
                check_not_ahead(event, now, max_ahead)
                digest = order_digest(data)
                seen = check_id(event.order_id, event.ts, digest)
                if seen is not NEW:
                    if seen is REUSED:
                        raise EventError("order_id", REUSED_ID)
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
            plan = {"trackers": [tracker for tracker, _ in touches]}
            if self.features is not None:
                plan["rhythm"] = self.features.observe(view)
            if graph is not None:
                plan["graph"] = True  # wait for the order's cluster from the graph stage
                mark["links"].append(graph.entry(view))
                if mark["upto"] is None or event.ts > mark["upto"]:
                    mark["upto"] = event.ts
            plan["keys"] = view.keys()  # the decide stage need not key the entities again
            plan["order"] = private_order(data, plan["keys"], digest, self.sealer)  # no raw IP, phone, address
            out.plans[partition_of(event.order_id, self.signal_partitions)].append(plan)
        out.graph = list(progress.values())
        return out
