"""``riskstream bench console``: how fast the case store takes review records, and the queue page's server time.

**Ingest.** A simulated day is decided by ``riskstream replay`` with the given
rules (not timed); its records are then fed to
:class:`~riskstream.console.ingest.CaseIngest` as the case consumer receives
them from Kafka: every decision record (the ``risk-decisions`` topic) with each
flagged one also on ``risk-review``, in polls of ``batch`` records, one
transaction each, into a fresh store (a new SQLite file by default).  Figures:
review records per second (by the wall clock and by the process's CPU time, the
latter less sensitive to a busy shared machine), all records per second,
revisions stored, duplicates refused, cases made, and the same input a second
time (everything is a duplicate: the idempotence check's own cost).

**Queue page.** The day's flagged records are copied under new order, account
and cluster ids (copy ``k`` of ``o-1`` is ``o-1~k``) until the store holds
``queue_cases`` open cases, opened over the last ``spread_hours`` (so some are
past their SLA), and reviewers' queue views are asked of the console app in
process (Starlette's test client: routing, session check, the query, the page's
rendering; no network): the first page by risk and by age, by outcome, by a
frequent and a rare rule, by cluster size, unassigned, SLA-breached, and pages
deep into the queue by the keyset cursor.  Figures: p50, p95 and the slowest
request, for each view and overall.
"""

from __future__ import annotations

import gc
import os
import platform
import re
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
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
QUEUE_TARGET_MS = 200.0  #: p95 of the queue page's server time with 100,000 open cases
INGEST_TARGET = 5000  #: review records per second into SQLite
_SECRET = "bench-console-secret-0123456789"
_PASSWORD = "bench console password"


def conditions() -> dict[str, Any]:
    """What the figures were measured on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in load], "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "machine": platform.machine()}


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


def bench_ingest(feed: list[bytes], review: int, store: CaseStore, batch: int, report: Report) -> list[dict]:
    ingest = CaseIngest(store)
    runs = []
    for label in ("first", "again"):
        gc.collect()  # the replay's engine and graph, gone before the clock starts
        started, cpu = time.perf_counter(), time.process_time()
        added = duplicates = 0
        for start in range(0, len(feed), batch):
            result = ingest.ingest(feed[start:start + batch])
            if result.rejected:
                raise RuntimeError(f"the store refused records: {result.rejected[:3]}")
            added, duplicates = added + result.added, duplicates + result.duplicates
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        runs.append({"run": label, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "records": len(feed),
                     "records_per_s": round(len(feed) / seconds), "review_records_per_s": round(review / seconds),
                     "review_records_per_cpu_s": round(review / cpu), "revisions_stored": added,
                     "duplicates": duplicates, "load_average": conditions()["load_average"]})
        report(f"{label}: {len(feed):,} records ({review:,} review records) in {seconds:.2f} s "
               f"(CPU {cpu:.2f} s) = {len(feed) / seconds:,.0f} records/s, {review / seconds:,.0f} review records/s "
               f"({review / cpu:,.0f} per CPU second); {added:,} revisions stored, {duplicates:,} duplicates")
    return runs


SALES_SPREAD = 10  # the copies' orders are spread over this many flash sales (for the sale filter)


def _copy(record: dict, k: int) -> dict:
    out = dict(record, order_id=f"{record['order_id']}~{k}", account_id=f"{record['account_id']}~{k}")
    if record.get("sale"):
        out["sale"] = f"{record['sale']}~{k % SALES_SPREAD}"
    if record.get("cluster_id"):
        out["cluster_id"] = f"{record['cluster_id']}~{k}"
        cluster = record.get("cluster")
        if isinstance(cluster, dict):
            out["cluster"] = dict(cluster, id=out["cluster_id"])
    return out


def _open_cases(store: CaseStore) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Case).where(Case.status == "open",
                                                                           Case.orders_count > 0)) or 0


def fill_queue(store: CaseStore, feed: list[bytes], cases: int, batch: int, spread_hours: float,
               report: Report) -> dict[str, Any]:
    """Copies of the day's flagged records until ``cases`` open cases; returns the fill's figures."""
    day = [r for r in (orjson.loads(line) for line in dict.fromkeys(feed))
           if Outcome.parse(r["action"]).flagged or r.get("revision", 1) > 1]
    now = datetime.now(timezone.utc)
    clock = {"at": now}
    ingest = CaseIngest(store, clock=lambda: clock["at"])
    started = time.perf_counter()
    records = k = 0
    have = base = _open_cases(store)
    while have < cases:
        per_copy = max(1, (have - base) // k) if k else 1
        copies = max(1, (cases - have) // per_copy) if k else 1  # the first copy measures a copy's cases
        for _ in range(copies):
            copy = [_copy(r, k) for r in day]
            clock["at"] = now - timedelta(hours=spread_hours * max(0.0, 1 - have / cases))  # older first
            for start in range(0, len(copy), batch):
                ingest.ingest(copy[start:start + batch])
            records += len(copy)
            k += 1
            have += per_copy
        have = _open_cases(store)
    seconds = time.perf_counter() - started
    report(f"queue store: {have:,} open cases from {k} copies of the simulated day's cases "
           f"({records:,} records in {seconds:.1f} s)")
    return {"open_cases": have, "copies": k, "records": records, "fill_seconds": round(seconds, 1)}


def _views(store: CaseStore) -> list[tuple[str, dict[str, str]]]:
    with store.session() as session:
        counts: Counter = Counter()
        for (rules,) in session.execute(select(Case.rules).where(Case.status == "open").limit(20_000)):
            counts.update(filter(None, rules.split(",")))
        sales: Counter = Counter()
        amounts = []
        for sale, amount in session.execute(select(Case.sale, Case.amount).where(Case.status == "open").limit(20_000)):
            sales[sale] += 1
            if amount is not None:
                amounts.append(amount)
    common = counts.most_common()
    frequent = common[0][0] if common else "none"
    rare = common[-1][0] if common else "none"
    sale = next((s for s, _ in sales.most_common() if s is not None), "none")
    amounts.sort()
    high, low, mid = (f"{_percentile(amounts, q):.0f}" if amounts else "0" for q in (0.9, 0.25, 0.75))
    return [("first page by risk", {}), ("first page by age", {"sort": "age"}), ("outcome hold", {"outcome": "hold"}),
            (f"frequent rule ({frequent})", {"rule": frequent}), (f"rare rule ({rare})", {"rule": rare}),
            ("cluster size 3+", {"min_size": "3"}), ("unassigned", {"assignee": "none"}),
            ("SLA breached", {"sla": "1"}), (f"sale ({sale})", {"sale": sale}),
            (f"sale ({sale}) by age", {"sale": sale, "sort": "age"}), (f"amount {high}+", {"min_amount": high}),
            (f"amount {low}-{mid} by age", {"min_amount": low, "max_amount": mid, "sort": "age"})]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(share * (len(ordered) - 1)))))]


def bench_queue(store: CaseStore, *, rounds: int, deep_pages: int, sla_minutes: float, report: Report) -> dict:
    from starlette.testclient import TestClient

    from ..console.app import ConsoleConfig, create_app
    from ..console.auth import add_user

    with store.session() as session:
        add_user(session, "bench-lead", _PASSWORD, "lead", actor="bench")
    app = create_app(ConsoleConfig(store=store, secret=_SECRET, publish=lambda verdict: None,
                                   sla_minutes=sla_minutes))
    client = TestClient(app, follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": "bench-lead", "password": _PASSWORD, "csrf": token})
    views = _views(store)
    times: dict[str, list[float]] = {name: [] for name, _ in views}
    times["deep pages by cursor (risk)"] = []
    times["deep pages by cursor (age)"] = []
    rows = 0

    def timed(name: str, params: dict[str, str], hx: bool = False) -> str:
        nonlocal rows
        started = time.perf_counter()
        answer = client.get("/queue", params=params, headers={"HX-Request": "true"} if hx else None)
        times[name].append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"queue {params}: {answer.status_code} {answer.text[:200]}")
        rows += answer.text.count('class="case-row"')
        return answer.text

    client.get("/queue")  # warm: templates compiled, connections open
    for _ in range(rounds):
        for name, params in views:
            timed(name, params)
        for sort in ("risk", "age"):
            params = {"sort": sort}
            text = client.get("/queue", params=params).text
            for _ in range(deep_pages):
                found = re.search(r'hx-get="/queue\?([^"]+)"', text)
                if not found:
                    break
                from urllib.parse import parse_qsl

                params = dict(parse_qsl(found.group(1).replace("&amp;", "&")))
                text = timed(f"deep pages by cursor ({sort})", params, hx=True)
    everything = [t for values in times.values() for t in values]
    out = {"requests": len(everything), "rows_shown": rows, "views": {}}
    for name, values in times.items():
        if values:
            out["views"][name] = {"n": len(values), "p50_ms": round(statistics.median(values), 1),
                                  "p95_ms": round(_percentile(values, 0.95), 1), "max_ms": round(max(values), 1)}
    out["p50_ms"] = round(statistics.median(everything), 1)
    out["p95_ms"] = round(_percentile(everything, 0.95), 1)
    out["max_ms"] = round(max(everything), 1)
    for name, figures in out["views"].items():
        report(f"  {name}: p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms, "
               f"max {figures['max_ms']:.1f} ms ({figures['n']} requests)")
    report(f"queue page server time over {len(everything)} requests: p50 {out['p50_ms']:.1f} ms, "
           f"p95 {out['p95_ms']:.1f} ms (target under {QUEUE_TARGET_MS:.0f} ms), max {out['max_ms']:.1f} ms")
    return out


def bench_console(*, orders: int = 50_000, seed: int = 11, rules: str | None = "rules", batch: int = 5000,
                  store: str | None = None, queue_cases: int = 100_000, rounds: int = 15, deep_pages: int = 20,
                  spread_hours: float = 4.0, sla_minutes: float = 30.0, report: Report = print) -> dict[str, Any]:
    report(f"deciding {orders:,} simulated orders (seed {seed}) with {rules or 'the settings rules'}...")
    feed, review = consumer_feed(orders, seed, rules)
    before = conditions()
    report(f"conditions: {before['cpus']} CPUs, load average {before['load_average']}, Python {before['python']}, "
           f"SQLite {before['sqlite']}")
    with tempfile.TemporaryDirectory(prefix="riskstream-bench-console-") as scratch:
        target = store or str(Path(scratch) / "cases.db")
        opened = CaseStore.open(target)
        try:
            runs = bench_ingest(feed, review, opened, batch, report)
            with opened.session() as session:
                cases = session.scalar(select(func.count()).select_from(Case).where(Case.orders_count > 0))
                revisions = session.scalar(select(func.count()).select_from(Revision))
            dialect = opened.dialect
            queue = None
            if queue_cases:
                fill = fill_queue(opened, feed, queue_cases, batch, spread_hours, report)
                queue = fill | bench_queue(opened, rounds=rounds, deep_pages=deep_pages, sla_minutes=sla_minutes,
                                           report=report)
        finally:
            opened.close()
    first = runs[0]["review_records_per_s"]
    report(f"ingest: {first:,} review records/s (target at least {INGEST_TARGET:,}: "
           f"{'met' if first >= INGEST_TARGET else 'missed'})"
           + (f"; queue page p95 {queue['p95_ms']:.1f} ms with {queue['open_cases']:,} open cases (target under "
              f"{QUEUE_TARGET_MS:.0f} ms: {'met' if queue['p95_ms'] < QUEUE_TARGET_MS else 'missed'})"
              if queue else ""))
    return {"orders": orders, "seed": seed, "rules": rules, "batch": batch, "store": dialect,
            "review_records": review, "cases": cases, "revisions": revisions, "runs": runs, "queue": queue,
            "conditions": {"before": before, "after": conditions()}}


__all__ = ["bench_console", "bench_ingest", "bench_queue", "conditions", "consumer_feed", "fill_queue"]
