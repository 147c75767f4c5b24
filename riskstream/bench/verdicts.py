"""``riskstream bench verdicts``: from a reviewer's verdict to the order pipeline's new decision, through a real broker.

One ``riskstream worker`` decides a first part of a simulated day; then, while
the rest of the day is published at ``--rate`` orders/s, a freeze verdict is
published every ``--every`` seconds, each naming one account and one of its
decided orders.  Latency per verdict = the Kafka timestamp of the order's
revision on ``risk-decisions`` - the verdict record's own (both stamped by
producers on this machine).  The run deletes its topics when it ends.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
import orjson
from kafka import KafkaConsumer

from ..harness import WorkerProcess, compressed_time_settings, first_records, publish_paced
from ..kafka.topics import Topics, delete_topics_containing, ensure_topics
from ..kafka.verdicts import VerdictPublisher
from ..sim import simulate
from ..verdicts import Verdict

Report = Callable[[str], None]


def bench_verdicts(
    bootstrap: str,
    *,
    orders: int = 20_000,
    verdicts: int = 40,
    every: float = 0.1,
    rate: float = 500.0,
    seed: int = 11,
    rules: str = "rules",
    partitions: int = 4,
    work_dir: Path = Path("var/bench-verdicts"),
    report: Report = print,
) -> dict[str, Any]:
    """Verdict-to-revision latency figures (see the module docstring)."""
    run = uuid.uuid4().hex[:8]
    work = work_dir / run
    work.mkdir(parents=True, exist_ok=True)
    topics = Topics(orders=f"bench-orders-{run}", decisions=f"bench-decisions-{run}", review=f"bench-review-{run}",
                    dlq=f"bench-dlq-{run}", verdicts=f"bench-verdicts-{run}", partitions=partitions)
    events = list(simulate(orders, seed))
    first, rest = events[: orders // 2], events[orders // 2:]
    ensure_topics(bootstrap, topics)
    worker = WorkerProcess(bootstrap, topics, f"bench-{run}", work, rules, compressed_time_settings())
    try:
        worker.start()
        worker.wait_ready()
        report(f"{len(first):,} orders to decide first")
        publish_paced(bootstrap, topics.orders, first, 0)
        decided = first_records(bootstrap, topics.decisions, len(first), lambda v: v["order_id"], idle=60.0)
        targets = _targets(first, decided, verdicts)
        report(f"{len(targets)} freeze verdicts, one every {every:g} s, while {len(rest):,} more orders come at {rate:g}/s")
        traffic = threading.Thread(target=publish_paced, args=(bootstrap, topics.orders, rest, rate), daemon=True)
        traffic.start()
        sent: dict[str, str] = {}  # verdict id -> the order it names
        with VerdictPublisher(bootstrap, topics.verdicts) as publisher:
            for order in targets:
                verdict = Verdict.create("freeze", "bench", accounts=[order["account_id"]], orders=[order["order_id"]],
                                         event_time=order["event_time"])
                publisher.publish(verdict)
                sent[verdict.verdict_id] = order["order_id"]
                time.sleep(every)
        stamps = _verdict_stamps(bootstrap, topics.verdicts, len(sent))
        revisions = _revision_stamps(bootstrap, topics.decisions, set(sent.values()), timeout=30.0)
        traffic.join()
    finally:
        worker.stop()
        delete_topics_containing(bootstrap, run)
    latencies = np.array([revisions[sent[v]] - stamps[v] for v in sent if v in stamps and sent[v] in revisions], dtype=float)
    figures = {
        "conditions": {"orders_decided_before": len(first), "background_orders": len(rest), "background_rate": rate,
                       "verdicts": len(sent), "every_seconds": every, "partitions": partitions, "rules": rules,
                       "worker": "one riskstream worker process", "cpus": len(os.sched_getaffinity(0))},
        "revised": int(latencies.size),
        "missing": len(sent) - int(latencies.size),
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 1) if latencies.size else None,
            "p95": round(float(np.percentile(latencies, 95)), 1) if latencies.size else None,
            "max": round(float(latencies.max()), 1) if latencies.size else None,
        },
    }
    report(f"verdict to revision: p50 {figures['latency_ms']['p50']} ms, p95 {figures['latency_ms']['p95']} ms, "
           f"max {figures['latency_ms']['max']} ms ({figures['missing']} missing)")
    return figures


def _targets(events: list[dict], decided: dict, count: int) -> list[dict]:
    """``count`` decided orders of distinct accounts, spread over the part, not yet frozen."""
    seen: set[str] = set()
    out = []
    step = max(1, len(events) // (count * 2))
    for event in events[::step]:
        record = decided.get(event["order_id"])
        if record is None or record[1]["action"] == "freeze" or event["account_id"] in seen:
            continue
        seen.add(event["account_id"])
        out.append(event)
        if len(out) >= count:
            break
    return out


def _verdict_stamps(bootstrap: str, topic: str, want: int) -> dict[str, int]:
    found = first_records(bootstrap, topic, want, lambda v: v["verdict_id"], idle=10.0)
    return {key: ts for key, (ts, _) in found.items()}


def _revision_stamps(bootstrap: str, topic: str, orders: set[str], timeout: float) -> dict[str, int]:
    """Kafka timestamp of the first decision record of each order that carries a verdict reason."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    found: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(found) < len(orders) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200, max_records=5000).values():
                for record in records:
                    key = record.key.decode()
                    if key in orders and key not in found:
                        value = orjson.loads(record.value)
                        if any(r["kind"] == "verdict" for r in value["reasons"]):
                            found[key] = record.timestamp
    finally:
        consumer.close()
    return found


__all__ = ["bench_verdicts"]
