"""The stream stages as plain Python (no Faust): screen, entities, graph, decide.

Orders arrive keyed by account, but an IP's or an address's window needs every
order that touches it, whatever its account partition.  So the engine's one
``decide`` is cut where the data must move:

``screen`` (per ``orders`` partition)
    validates each event (bad ones become dead letters), builds the order's
    view and its *touches* - one per tracker key it counts in - and routes each
    touch to the ``risk-touches`` partition that owns the key, and the order's
    *plan* (the event and how many touches to wait for) to the ``risk-signals``
    partition that owns the order id.
``entities`` (per ``risk-touches`` partition)
    counts each touch in its sliding window and routes the resulting aggregate,
    a *signal*, to the order's ``risk-signals`` partition.
``graph`` (one instance, when the rules keep a graph)
    takes every order's new account-entity links from the screens, applies
    them in event-time order and sends each order its cluster (see
    :class:`GraphStage`).
``decide`` (per ``risk-signals`` partition)
    collects an order's plan, signals and cluster and, once complete, concludes it with
    the engine's policy: the same rules, the same record as offline.  With the
    anomaly model, the orders completed by one call are scored together (a
    micro-batch bounded by the agent's batch wait) before their rules run; the
    screen adds each order's account timing (the stateful feature, kept per
    account partition) to its plan.

Messages carry many touches, plans or signals at once, grouped by destination
partition, so per-message costs are paid per batch, not per order.  Partitions
are chosen by a stable hash (CRC-32) of the key, never Python's salted hash.

Each stage is idempotent so at-least-once delivery gives exactly-once results:
the entities stage remembers which touch batches it has counted (a batch seen
again is answered from the window, not counted twice) and the decide stage
keeps each order's decision and publishes the same record again for a replayed
order.
"""

from __future__ import annotations

import bisect
import heapq
import time
import zlib
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable

import orjson

from ..decisions import Decision
from ..engine import Aggregate, DecisionEngine
from ..engine.clusters import ClusterSnapshot
from ..engine.escalation import Trigger, escalated_reasons
from ..events import EventError, decode, parse_order
from ..model.features import NO_RHYTHM, FeatureExtractor
from ..model.scorer import Scoring

Touch = list  # [order_id, tracker, touch_no, key, t, qty, amount, value]
Signal = list  # [order_id, touch_no, count, quantity, amount, distinct]


def partition_of(key: str | bytes, partitions: int) -> int:
    """The partition that owns ``key``: CRC-32, stable across processes and machines."""
    data = key.encode() if isinstance(key, str) else key
    return zlib.crc32(data) % partitions


def _key_text(key: Hashable) -> str:
    return key if isinstance(key, str) else "\x1f".join(map(str, key))  # type: ignore[arg-type]


def _key_from_wire(key: Any) -> Hashable:
    return tuple(key) if isinstance(key, list) else key


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
                text = f"{tracker}\x1e{_key_text(key)}"
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


class TouchLedger:
    """Which touches each key has counted, and when.

    It makes counting idempotent (a touch delivered twice is counted once) and
    finds the orders a late touch affects: those of the same key with a later
    time inside the window, whose aggregates just grew.
    """

    def __init__(self, horizon: float):
        self.horizon = horizon  # window + grace: older entries are dropped
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
        self.ledger = TouchLedger(longest)

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
            key = _key_from_wire(key)
            agg = window.add(key, t, qty, amount, value)
            if ledger.record(tracker, key, t, order_id, n):
                for later_t, later_id, later_n in ledger.later(tracker, key, t, window.length):
                    update = [later_id, later_n, *window.peek(key, later_t)]
                    out[partition_of(later_id, partitions)].append(update)
            out[partition_of(order_id, partitions)].append([order_id, n, *agg])
        return out

    def restore(self, touches: Iterable[Touch]) -> None:
        """Rebuild windows from touch batches counted before a restart."""
        engine, ledger = self.engine, self.ledger
        trackers = engine.trackers
        for order_id, tracker, n, key, t, qty, amount, value in touches:
            engine.observe(t)
            key = _key_from_wire(key)
            if not ledger.seen(order_id, n):
                trackers[tracker].window.add(key, t, qty, amount, value)
                ledger.record(tracker, key, t, order_id, n)


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
    its end no longer holds the watermark until it sends again.  Markers
    travel in order with the links, so a restart that reads the topic again
    rebuilds exactly the same graph and buffer.  An order id seen twice (a
    screen that restarted before committing sends its batch again) is
    applied once.
    """

    def __init__(self, engine: DecisionEngine, order_partitions: int, signal_partitions: int):
        if engine.graph is None:
            raise ValueError("the rule set keeps no graph")
        self.engine = engine
        self.step = engine.graph
        self.signal_partitions = signal_partitions
        self.upto = [float("-inf")] * order_partitions  # newest event time screened per orders partition
        self.offsets = [-1] * order_partitions  # last offset screened per orders partition
        self.idle = [False] * order_partitions  # caught up: not holding the watermark back
        self.heard = [0.0] * order_partitions  # monotonic time of each partition's last message (for markers only)
        self.buffer: list[tuple[float, int, list]] = []  # (event time, arrival, entry), a heap
        self._arrival = 0
        self._first_time = OrderIds(engine.dedup_horizon).first_time

    @property
    def buffered(self) -> int:
        return len(self.buffer)

    @property
    def watermark(self) -> float:
        live = [upto for upto, idle in zip(self.upto, self.idle) if not idle]
        return min(live) if live else float("inf")

    def run(self, messages: Iterable[dict]) -> dict[int, list]:
        """Take screens' messages (and markers); cluster snapshots per ``risk-signals`` partition."""
        for message in messages:
            marks = message.get("caught_up")
            if marks is not None:
                for p, end in marks:
                    if self.offsets[p] + 1 >= end:
                        self.idle[p] = True
                continue
            p = message["p"]
            self.idle[p] = False
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

    def caught_up(self, ends: dict[int, int], quiet: float = 0.0) -> list[list[int]]:
        """Partitions (and their end offsets) screened to the end, and silent for ``quiet``
        seconds, that still hold the watermark back: the content of a caught-up marker.

        Under load every partition speaks every batch, so the watermark moves
        with event time and links are applied in order; ``quiet`` keeps a
        partition that is merely between two batches from being skipped."""
        now = time.monotonic()
        return [[p, end] for p, end in sorted(ends.items())
                if not self.idle[p] and self.offsets[p] + 1 >= end and now - self.heard[p] >= quiet]

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
        self.escalator = engine.graph.escalator if engine.graph is not None else None
        if self.escalator is not None:
            self.escalator.outbox = []  # triggers travel to every partition instead of applying here

    def take_triggers(self) -> list[list]:
        """Triggers made since the last call, as plain data for every decide partition."""
        if self.escalator is None or not self.escalator.outbox:
            return []
        out = [t.to_wire() for t in self.escalator.outbox]
        self.escalator.outbox.clear()
        return out

    def run(self, plans: Iterable[dict], signals: Iterable[Signal], clusters: Iterable[list] = (),
            triggers: Iterable[list] = ()) -> list[Decision]:
        touched_orders: list[str] = []
        for plan in plans:
            order_id = plan["order"]["order_id"]
            if order_id in self.done:
                continue  # a plan delivered again: the order is decided
            self.pending.setdefault(order_id, _Pending()).plan = plan
            touched_orders.append(order_id)
        revised: list[str] = []
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
        for done, after in zip(again, self._conclude(again, escalate=False)):
            before = done.decision
            assert before is not None
            carried = escalated_reasons(before)
            if carried:  # an escalation stands: the order is decided again with it
                after.reasons.extend(carried)
                after.action, after.score = self.engine.policy.action(after.reasons)
                after.cluster_id, after.cluster = before.cluster_id, before.cluster
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
        return decided

    def _conclude(self, pendings: list[_Pending], escalate: bool = True) -> list[Decision]:
        """Decide complete orders; with the model, their scores come from one batch."""
        engine = self.engine
        counted = []
        for pending in pendings:
            assert pending.plan is not None
            view = engine.view(parse_order(pending.plan["order"]))
            view.preset(pending.plan.get("keys", {}))
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


MAX_MESSAGE = 256 * 1024  # bytes of items per message, well under the brokers' and clients' 1 MB


def pack(items: Iterable[Any], head: bytes = b"[", tail: bytes = b"]", limit: int = MAX_MESSAGE) -> list[bytes]:
    """``items`` as JSON messages ``head + item,item,... + tail``, as many as keep each
    under about ``limit`` bytes (one at least): a busy batch never outgrows a Kafka message."""
    out: list[bytes] = []
    group: list[bytes] = []
    size = 0
    for item in items:
        part = orjson.dumps(item)
        if group and size + len(part) > limit:
            out.append(head + b",".join(group) + tail)
            group, size = [], 0
        group.append(part)
        size += len(part) + 1
    out.append(head + b",".join(group) + tail)
    return out


def pack_keyed(key: str, items: Iterable[Any], **extra: Any) -> list[bytes]:
    """``{key: [items...], **extra}`` messages (see :func:`pack`)."""
    tail = b"]" + (b"," + orjson.dumps(extra)[1:] if extra else b"}")
    return pack(items, b'{"' + key.encode() + b'":[', tail)


def pack_progress(mark: dict) -> list[bytes]:
    """A screen's message to the graph stage, split like :func:`pack`; only the last part
    carries the partition's progress, so the watermark never passes links still to come."""
    bodies = pack(mark["links"], b'{"links":[', b"]")
    early = b',"p":%d,"upto":null,"offset":-1}' % mark["p"]
    last = b"," + orjson.dumps({"p": mark["p"], "upto": mark["upto"], "offset": mark["offset"]})[1:]
    return [body + early for body in bodies[:-1]] + [bodies[-1] + last]
