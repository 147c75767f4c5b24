"""The offline driver: history in order of appearance through the engine.

``replay`` is what analysts, tests and benchmarks use; it runs the very same
:class:`~riskstream.engine.DecisionEngine` as the stream workers.  Bad events
are counted and reported (with their place and the field at fault), never
fatal; duplicates of an order id are decided once.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import orjson

from .decisions import OUTCOME_LABELS, Decision
from .engine import DecisionEngine
from .events import EventError, decode, parse_order
from .metrics import LabelTally, parse_label

if TYPE_CHECKING:
    from .model.scorer import Scoring

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
    model_version: str | None = None

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
) -> Iterator[tuple[dict[str, Any], Decision]]:
    """Decide each record; yields ``(event mapping, decision)`` for valid new orders.

    With ``scoring`` (the anomaly model) orders are counted one by one and
    concluded in batches of ``scoring.batch``, scored together; the decisions
    and their order are those of deciding one order at a time.
    """
    if scoring is None:
        decided: Iterator[tuple[dict[str, Any], Decision]] = _decide_each(engine, records, report)
    else:
        decided = _decide_batched(scoring, count_records(engine, records, report, scoring))
    actions = report.actions
    tally = report.tally
    for data, decision in decided:
        report.orders += 1
        label = decision.action.label
        actions[label] += 1
        if tally is not None:
            tally.add(parse_label(data.get(label_field)), decision.action, decision.score)
        if group_field is not None:
            group = data.get(group_field)
            if group is not None:
                counts = report.groups.get(group)
                if counts is None:
                    counts = report.groups[group] = Counter()
                counts[label] += 1
        yield data, decision


def _invalid(report: ReplayReport, source: str, exc: EventError) -> None:
    report.invalid += 1
    if len(report.invalid_examples) < MAX_EXAMPLES:
        report.invalid_examples.append({"at": source, "field": exc.field or "", "error": exc.problem})


def _decide_each(
    engine: DecisionEngine, records: Iterable[tuple[str, Any]], report: ReplayReport
) -> Iterator[tuple[dict[str, Any], Decision]]:
    for source, raw in records:
        try:
            data = raw if isinstance(raw, dict) else decode(raw)
            event = parse_order(data)
            if engine.seen(event.order_id):
                report.duplicates += 1
                continue
            decision = engine.decide(event)
        except EventError as exc:
            _invalid(report, source, exc)
            continue
        yield data, decision


def count_records(
    engine: DecisionEngine, records: Iterable[tuple[str, Any]], report: ReplayReport, scoring: "Scoring"
) -> Iterator[tuple[dict[str, Any], Any, list, list[float]]]:
    """Count each valid new order in input order; yields ``(event mapping, view, touched, feature row)``.

    The one path from history to model features: training reads its rows
    here, and scoring replays conclude what it yields.
    """
    features = scoring.features
    for source, raw in records:
        try:
            data = raw if isinstance(raw, dict) else decode(raw)
            event = parse_order(data)
            if engine.seen(event.order_id):
                report.duplicates += 1
                continue
            view, touched = engine.count(event)
            row = features(view, touched)
        except EventError as exc:
            _invalid(report, source, exc)
            continue
        yield data, view, touched, row


def _decide_batched(scoring: "Scoring", counted: Iterator[tuple]) -> Iterator[tuple[dict[str, Any], Decision]]:
    batch = scoring.batch
    pending: list[tuple] = []
    for item in counted:
        pending.append(item)
        if len(pending) >= batch:
            yield from zip((p[0] for p in pending), scoring.conclude([p[1:] for p in pending]))
            pending = []
    if pending:
        yield from zip((p[0] for p in pending), scoring.conclude([p[1:] for p in pending]))


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often while deciding.

    Engine state is millions of small long-lived containers without cycles;
    the cyclic collector re-walking them as they grow costs about a sixth of
    the run.  Reference counting still frees everything as usual.
    """
    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def replay(
    engine: DecisionEngine,
    records: Iterable[tuple[str, Any]],
    *,
    write: Callable[[bytes], Any] | None = None,
    label_field: str | None = None,
    group_field: str | None = None,
    scoring: "Scoring | None" = None,
) -> ReplayReport:
    """Run ``records`` through ``engine``; ``write`` receives each decision as a JSONL line.

    ``scoring`` adds the anomaly model (scored in micro-batches)."""
    report = ReplayReport(tally=LabelTally() if label_field else None, ruleset_version=engine.version)
    if scoring is not None and scoring.source is not None:
        report.model_version = scoring.source.current().version
    started = time.perf_counter()
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    with fewer_collections():
        for _, decision in decide_records(engine, records, report, label_field, group_field, scoring):
            if write is not None:
                write(dumps(decision.to_dict(), option=newline))
    report.seconds = time.perf_counter() - started
    return report
