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
from typing import Any, Callable, Iterable, Iterator

import orjson

from .decisions import OUTCOME_LABELS, Decision
from .engine import DecisionEngine
from .events import EventError, decode, parse_order
from .metrics import LabelTally, parse_label

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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "orders": self.orders,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "actions": {name: self.actions.get(name, 0) for name in OUTCOME_LABELS},
            "seconds": round(self.seconds, 3),
            "orders_per_second": round(self.orders / self.seconds) if self.seconds else 0,
            "ruleset_version": self.ruleset_version,
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
) -> Iterator[tuple[dict[str, Any], Decision]]:
    """Decide each record; yields ``(event mapping, decision)`` for valid new orders."""
    actions = report.actions
    tally = report.tally
    for source, raw in records:
        try:
            data = raw if isinstance(raw, dict) else decode(raw)
            event = parse_order(data)
            if engine.seen(event.order_id):
                report.duplicates += 1
                continue
            decision = engine.decide(event)
        except EventError as exc:
            report.invalid += 1
            if len(report.invalid_examples) < MAX_EXAMPLES:
                report.invalid_examples.append({"at": source, "field": exc.field or "", "error": exc.problem})
            continue
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
) -> ReplayReport:
    """Run ``records`` through ``engine``; ``write`` receives each decision as a JSONL line."""
    report = ReplayReport(tally=LabelTally() if label_field else None, ruleset_version=engine.version)
    started = time.perf_counter()
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    with fewer_collections():
        for _, decision in decide_records(engine, records, report, label_field, group_field):
            if write is not None:
                write(dumps(decision.to_dict(), option=newline))
    report.seconds = time.perf_counter() - started
    return report
