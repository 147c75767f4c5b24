"""The offline driver: history in order of appearance through the engine.

``replay`` is what analysts, tests and benchmarks use; it runs the very same
:class:`~riskstream.engine.DecisionEngine` as the stream workers.  Bad events
are counted and reported (with their place and the field at fault), never
fatal; duplicates of an order id are decided once, and an order id that comes
again with other content is a bad event (as in the stream's dead-letter topic).

When the rules keep a graph, a decision may escalate earlier orders of its
cluster: the new revisions are written right after the decision that caused
them, and the report counts each order's last revision.  Reviewers' verdicts
(``--verdicts``, :mod:`.verdicts`) are merged in by time the same way.
"""

from __future__ import annotations

import gc
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import orjson

from ..decisions import OUTCOME_LABELS, Decision
from ..engine import DecisionEngine
from ..engine.order_ids import REUSED, OrderIds
from ..events import REUSED_ID, EventError, check_not_ahead, decode, order_digest, parse_order
from ..settings import settings_from_env
from .labels import LabelTally, parse_label
from .verdicts import VerdictSchedule

if TYPE_CHECKING:
    from ..model.scorer import Scoring
    from ..verdicts import Verdict

MAX_EXAMPLES = 20


@dataclass
class ReplayReport:
    """Counts and metrics of one replay, as written by ``--report``."""

    orders: int = 0
    invalid: int = 0
    duplicates: int = 0
    actions: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    invalid_examples: list[dict[str, str]] = field(default_factory=list)
    tally: LabelTally | None = None
    groups: dict[str, Counter] = field(default_factory=dict)
    ruleset_version: str = ""
    escalations: int = 0  # later revisions of earlier orders
    model_version: str | None = None
    verdicts: int = 0  # reviewers' verdicts filed
    verdict_revisions: int = 0  # later revisions of earlier orders a verdict named

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "orders": self.orders,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "actions": {name: self.actions.get(name, 0) for name in OUTCOME_LABELS},
            "seconds": round(self.seconds, 3),
            "orders_per_second": round(self.orders / self.seconds) if self.seconds else 0,
            "ruleset_version": self.ruleset_version,
            "model_version": self.model_version,
        }
        if self.escalations:
            out["escalations"] = self.escalations
        if self.verdicts:
            out["verdicts"] = {"filed": self.verdicts, "revisions": self.verdict_revisions}
        if self.invalid_examples:
            out["invalid_examples"] = self.invalid_examples
        if self.tally is not None:
            out["labels"] = self.tally.summary()
        if self.groups:
            out["groups"] = {name: _group_summary(c) for name, c in sorted(self.groups.items())}
        return out


def _group_summary(counts: Counter) -> dict[str, Any]:
    orders = sum(counts[a] for a in OUTCOME_LABELS)
    blocked = counts["hold"] + counts["freeze"]
    return {
        "orders": orders,
        "actions": {a: counts[a] for a in OUTCOME_LABELS if counts[a]},
        "flagged_share": round((orders - counts["allow"]) / orders, 4) if orders else 0.0,
        "blocked_share": round(blocked / orders, 4) if orders else 0.0,
    }


def decide_records(
    engine: DecisionEngine,
    records: Iterable[tuple[str, Any]],
    report: ReplayReport,
    label_field: str | None = None,
    group_field: str | None = None,
    scoring: "Scoring | None" = None,
    verdicts: "VerdictSchedule | None" = None,
) -> Iterator[tuple[dict[str, Any], Decision]]:
    """Decide each record; yields ``(event mapping, decision)`` for valid new orders.

    With ``scoring`` (the anomaly model) orders are counted one by one and
    concluded in batches of ``scoring.batch``, scored together; the decisions
    and their order are those of deciding one order at a time.

    Escalations (new revisions of earlier orders, when the rules keep a
    graph) follow as ``(None, decision)`` once the decision, or the batch,
    that caused them is out; the report then counts the new action.
    ``verdicts`` are filed by time (see :mod:`.verdicts`); the revisions they cause follow the same way.
    """
    before = verdicts.before if verdicts is not None else None
    if scoring is None:
        groups: Iterator[list[tuple[dict[str, Any], Decision]]] = _decide_each(engine, records, report, before)
    else:
        # With a graph, each order's cluster is frozen when it is counted (the
        # snapshot the stream's graph stage sends), so batches decide as one order at a time.
        batch = scoring.batch
        counted = count_records(engine, records, report, scoring, frozen=batch > 1, before=before)
        groups = _decide_batched(scoring, counted, batch)
    if verdicts is not None:
        groups = _and_finally(groups, verdicts.finish)
    actions = report.actions
    tally = report.tally
    graph = engine.graph
    revisable = RecentOrders(graph.within) if graph is not None else None
    watched: dict[str, list] = {}  # orders a verdict names: their counts, as revisable keeps them
    for group in groups:
        for data, decision in group:
            report.orders += 1
            label = decision.action.label
            actions[label] += 1
            position = None
            if tally is not None:
                parsed = parse_label(data.get(label_field))
                if parsed is not None:
                    position = len(tally.labels)
                tally.add(parsed, decision.action, decision.score)
            counts = None
            if group_field is not None:
                kind = data.get(group_field)
                if kind is not None:
                    counts = report.groups.get(kind)
                    if counts is None:
                        counts = report.groups[kind] = Counter()
                    counts[label] += 1
            entry = None
            if revisable is not None and (len(group) > 1 or graph.escalator.last_kept):  # type: ignore[union-attr]
                # only orders the graph may escalate later (last_kept tells for a
                # group of one; a batch keeps all its orders)
                entry = [label, position, counts]
                revisable.add(engine.watermark, decision.order_id, entry)
            if verdicts is not None and decision.order_id in verdicts.watched:
                watched[decision.order_id] = entry or [label, position, counts]
                verdicts.note(data, decision)
            yield data, decision
        if revisable is not None:
            for later in engine.take_escalations():
                _recount(revisable.get(later.order_id) or watched.get(later.order_id), later, actions, tally)
                report.escalations += 1
                if verdicts is not None:
                    verdicts.note(None, later)
                yield None, later  # type: ignore[misc]
        if verdicts is not None:
            for later in verdicts.take():
                _recount(watched.get(later.order_id), later, actions, tally)
                report.verdict_revisions += 1
                yield None, later  # type: ignore[misc]
    if verdicts is not None:
        report.verdicts = verdicts.filed


def _recount(entry: list | None, later: Decision, actions: Counter, tally: LabelTally | None) -> None:
    """Count a new revision's action instead of the order's earlier one (``entry``: label, label position, group counts)."""
    if entry is None:
        return
    new = later.action.label
    actions[entry[0]] -= 1
    actions[new] += 1
    if entry[2] is not None:
        entry[2][entry[0]] -= 1
        entry[2][new] += 1
    if tally is not None and entry[1] is not None:
        tally.revise(entry[1], later.action, later.score)
    entry[0] = new


def _and_finally(groups: Iterator[list], last: Callable[[], None]) -> Iterator[list]:
    """``groups``, then one empty group after calling ``last`` (the verdicts after every order are filed)."""
    yield from groups
    last()
    yield []


class RecentOrders:
    """Orders recent enough to be escalated: order id -> an entry, released oldest first once
    event time has left them ``horizon`` seconds behind (with an hour's margin)."""

    def __init__(self, horizon: float):
        self.horizon = horizon
        self.entries: dict[str, Any] = {}
        self.times: deque[tuple[float, str]] = deque()

    def add(self, ts: float, order_id: str, entry: Any) -> list:
        """Hold ``entry``; the entries of the orders now out of reach."""
        self.entries[order_id] = entry
        times = self.times
        times.append((ts, order_id))
        cut = ts - self.horizon - 3600.0  # orders arrive roughly in time order; keep a margin
        released = []
        while times and times[0][0] < cut:
            held = self.entries.pop(times.popleft()[1], None)
            if held is not None:
                released.append(held)
        return released

    def get(self, order_id: str) -> Any:
        return self.entries.get(order_id)

    def drain(self) -> list:
        """Every entry still held, oldest first (the input ended)."""
        out = [self.entries[order_id] for _, order_id in self.times if order_id in self.entries]
        self.entries.clear()
        self.times.clear()
        return out


def _invalid(report: ReplayReport, source: str, exc: EventError) -> None:
    report.invalid += 1
    if len(report.invalid_examples) < MAX_EXAMPLES:
        report.invalid_examples.append({"at": source, "field": exc.field or "", "error": exc.problem})


def _each_new(
    engine: DecisionEngine, records: Iterable[tuple[str, Any]], report: ReplayReport, work: Callable[[Any], Any],
    before: Callable[[float], None] | None = None,
) -> Iterator[tuple[dict[str, Any], Any]]:
    """``(event mapping, work(event))`` for each valid order not seen before; bad events are
    counted as invalid (also when ``work`` finds them bad), repeated order ids as duplicates.
    ``before(ts)`` runs first for each new order (verdicts up to its time are filed).

    The stream's rules for hostile input hold here too: an order id reused with other
    content, or an event time further ahead of the wall clock than ``RISKSTREAM_MAX_AHEAD_SECONDS``,
    is invalid."""
    ids = OrderIds(engine.dedup_horizon)
    max_ahead = settings_from_env().max_ahead_seconds
    for source, raw in records:
        try:
            data = raw if isinstance(raw, dict) else decode(raw)
            event = parse_order(data)
            check_not_ahead(event, time.time(), max_ahead)
            digest = order_digest(data)
            if engine.seen(event.order_id):
                if ids.compare(event.order_id, digest) is REUSED:
                    raise EventError("order_id", REUSED_ID)
                report.duplicates += 1
                continue
            ids.remember(event.order_id, event.ts, digest)
            if before is not None:
                before(event.ts)
            result = work(event)
        except EventError as exc:
            _invalid(report, source, exc)
            continue
        yield data, result


def _decide_each(
    engine: DecisionEngine, records: Iterable[tuple[str, Any]], report: ReplayReport,
    before: Callable[[float], None] | None = None,
) -> Iterator[list[tuple[dict[str, Any], Decision]]]:
    for data, decision in _each_new(engine, records, report, engine.decide, before):
        yield [(data, decision)]


def count_records(
    engine: DecisionEngine, records: Iterable[tuple[str, Any]], report: ReplayReport, scoring: "Scoring",
    frozen: bool = False, before: Callable[[float], None] | None = None,
) -> Iterator[tuple[dict[str, Any], Any, list, list[float]]]:
    """Count each valid new order in input order; yields ``(event mapping, view, touched, feature row)``.

    The one path from history to model features: training reads its rows
    here, and scoring replays conclude what it yields (``frozen``: see
    :meth:`~riskstream.engine.DecisionEngine.count`).
    """
    features = scoring.features

    def count(event: Any) -> tuple[Any, list, list[float]]:
        view, touched = engine.count(event, frozen)
        return view, touched, features(view, touched)

    for data, (view, touched, row) in _each_new(engine, records, report, count, before):
        yield data, view, touched, row


def _decide_batched(
    scoring: "Scoring", counted: Iterator[tuple], batch: int
) -> Iterator[list[tuple[dict[str, Any], Decision]]]:
    pending: list[tuple] = []
    for item in counted:
        pending.append(item)
        if len(pending) >= batch:
            yield list(zip((p[0] for p in pending), scoring.conclude([p[1:] for p in pending])))
            pending = []
    if pending:
        yield list(zip((p[0] for p in pending), scoring.conclude([p[1:] for p in pending])))


@contextmanager
def fewer_collections() -> Iterator[None]:
    """No cyclic garbage collection while deciding.

    Engine state is millions of small long-lived containers without cycles,
    and deciding leaves no cyclic garbage (a replay of 50,000 orders plus
    2,000 bad events leaves nothing for ``gc.collect()``), so reference
    counting frees everything.  Even with a young-generation threshold of
    50,000 the collector re-walked the growing state for 1.2 s of a 35 s
    replay of 200,000 orders; with it off that time is gone.
    """
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        # Move what the loop made to the oldest generation unscanned (and reset the
        # young count), or the first collection after it would walk it all at once.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def replay(
    engine: DecisionEngine,
    records: Iterable[tuple[str, Any]],
    *,
    write: Callable[[bytes], Any] | None = None,
    label_field: str | None = None,
    group_field: str | None = None,
    scoring: "Scoring | None" = None,
    verdicts: Iterable["Verdict"] = (),
) -> ReplayReport:
    """Run ``records`` through ``engine``; ``write`` receives each decision as a JSONL line.

    ``scoring`` adds the anomaly model (scored in micro-batches); ``verdicts``
    are merged in by time (see :mod:`.verdicts`)."""
    report = ReplayReport(tally=LabelTally() if label_field else None, ruleset_version=engine.version)
    if scoring is not None and scoring.source is not None:
        report.model_version = scoring.source.current().version
    started = time.perf_counter()
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    verdicts = list(verdicts)
    schedule = VerdictSchedule(engine, verdicts) if verdicts else None
    with fewer_collections():
        for _, decision in decide_records(engine, records, report, label_field, group_field, scoring, schedule):
            if write is not None:
                write(dumps(decision.to_dict(), option=newline))
    report.seconds = time.perf_counter() - started
    return report
