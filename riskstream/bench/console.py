"""``riskstream bench console``: how fast the case store takes review records.

A simulated day is decided by ``riskstream replay`` with the given rules (not
timed); its records are then fed to :class:`~riskstream.console.ingest.CaseIngest`
as the case consumer receives them from Kafka: every decision record (the
``risk-decisions`` topic) with each flagged one also on ``risk-review``, in
polls of ``batch`` records, one transaction each, into a fresh store (a new
SQLite file by default).  Figures: review records per second, all records per
second, revisions stored, duplicates refused, cases made, and the same input a
second time (everything is a duplicate: the idempotence check's own cost).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

from ..assembly import load_engine
from ..console.ingest import CaseIngest
from ..console.models import Case, Revision
from ..console.store import CaseStore
from ..decisions import Outcome
from ..offline.replay import replay
from ..sim import simulate

Report = Callable[[str], None]


def consumer_feed(orders: int, seed: int, rules: str | None) -> tuple[list[bytes], int]:
    """The records the case consumer would read for a simulated day, and how many are review records."""
    lines: list[bytes] = []
    events = simulate(orders, seed=seed)
    replay(load_engine(rules), ((f"sim:{n}", e) for n, e in enumerate(events)), write=lines.append)
    feed, review = [], 0
    for line in lines:
        line = line.rstrip(b"\n")
        feed.append(line)
        if Outcome.parse(orjson.loads(line)["action"]).flagged:
            feed.append(line)  # the same record on risk-review
            review += 1
    return feed, review


def bench_console(*, orders: int = 50_000, seed: int = 11, rules: str | None = "rules", batch: int = 5000,
                  store: str | None = None, report: Report = print) -> dict[str, Any]:
    report(f"deciding {orders:,} simulated orders (seed {seed}) with {rules or 'the settings rules'}...")
    feed, review = consumer_feed(orders, seed, rules)
    with tempfile.TemporaryDirectory(prefix="riskstream-bench-console-") as scratch:
        target = store or str(Path(scratch) / "cases.db")
        opened = CaseStore.open(target)
        try:
            ingest = CaseIngest(opened)
            runs = []
            for label in ("first", "again"):
                started = time.perf_counter()
                added = duplicates = 0
                for start in range(0, len(feed), batch):
                    result = ingest.ingest(feed[start:start + batch])
                    if result.rejected:
                        raise RuntimeError(f"the store refused records: {result.rejected[:3]}")
                    added, duplicates = added + result.added, duplicates + result.duplicates
                seconds = time.perf_counter() - started
                runs.append({"run": label, "seconds": round(seconds, 3), "records": len(feed),
                             "records_per_s": round(len(feed) / seconds), "review_records_per_s":
                             round(review / seconds), "revisions_stored": added, "duplicates": duplicates})
                report(f"{label}: {len(feed):,} records ({review:,} review records) in {seconds:.2f} s = "
                       f"{len(feed) / seconds:,.0f} records/s, {review / seconds:,.0f} review records/s; "
                       f"{added:,} revisions stored, {duplicates:,} duplicates")
            with opened.session() as session:
                cases = session.scalar(select(func.count()).select_from(Case).where(Case.orders_count > 0))
                revisions = session.scalar(select(func.count()).select_from(Revision))
            dialect = opened.dialect
        finally:
            opened.close()
    return {"orders": orders, "seed": seed, "rules": rules, "batch": batch, "store": dialect,
            "review_records": review, "cases": cases, "revisions": revisions, "runs": runs}


__all__ = ["bench_console", "consumer_feed"]
