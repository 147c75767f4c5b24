"""``riskstream bench stream``: a worker's throughput and latency through a real broker.

Two runs per contender, each on fresh topics and a fresh process:

* **throughput** - every order published before the process starts, so it
  works through a backlog as fast as it can; sustained orders/s = outputs /
  (last output's Kafka timestamp - first output's);
* **latency** - orders published at a fixed rate (``--rate``, repeatable);
  latency per order = its first output's Kafka timestamp - its own.

With ``--profile`` the worker's throughput run is also sampled by py-spy
(:mod:`riskstream.bench.profiling`): where its time goes, by agent and by part of
the code.  Each run deletes its own topics when it ends.

The contenders are a real ``riskstream worker`` with the given rules and a
bare aiokafka consume-and-produce pass-through (:mod:`.passthrough`), run the
same way in the same session, so the ratio says what deciding costs beside
moving the bytes.  All timestamps are stamped by the producers on this machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..harness import (
    WorkerProcess,
    compressed_time_settings,
    first_records,
    group_stable,
    publish_paced,
)
from ..kafka.topics import (
    Topics,
    create_missing,
    delete_topics_containing,
    ensure_topics,
)
from ..sim import simulate
from .profiling import Sampler, format_summary, py_spy

Report = Callable[[str], None]


class _PassThrough:
    """The pass-through as a subprocess, with the worker's start/wait/stop shape."""

    def __init__(self, bootstrap: str, source: str, target: str, group: str, work_dir: Path):
        self.bootstrap, self.source, self.target, self.group = bootstrap, source, target, group
        self.log = work_dir / "passthrough.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "riskstream.bench.passthrough", "--bootstrap", self.bootstrap,
                 "--source", self.source, "--target", self.target, "--group", self.group],
                stdout=log, stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not group_stable(self.bootstrap, self.group):
            if time.monotonic() > deadline or (self.process and self.process.poll() is not None):
                raise TimeoutError(f"pass-through not ready (log: {self.log})")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _one_run(kind: str, bootstrap: str, events: list[dict], rate: float, rules: str, partitions: int,
             work_root: Path, report: Report, profile: bool = False) -> dict[str, Any]:
    """One run of one contender; ``profile`` samples the process's stacks while it works (see
    :mod:`riskstream.bench.profiling`)."""
    run = uuid.uuid4().hex[:8]
    work = work_root / f"{kind}-{run}"
    work.mkdir(parents=True, exist_ok=True)
    topics = Topics(orders=f"bench-orders-{run}", decisions=f"bench-decisions-{run}", review=f"bench-review-{run}",
                    dlq=f"bench-dlq-{run}", verdicts=f"bench-verdicts-{run}", partitions=partitions)
    if kind == "worker":
        ensure_topics(bootstrap, topics)
        process: Any = WorkerProcess(bootstrap, topics, f"bench-{run}", work, rules, compressed_time_settings())
    else:
        create_missing(bootstrap, {topics.orders: partitions, topics.decisions: partitions})
        process = _PassThrough(bootstrap, topics.orders, topics.decisions, f"bench-{run}", work)
    count = len(events)
    backlog = not rate
    report(f"{kind}: {count:,} orders " + ("in a backlog" if backlog else f"published at {rate:,.0f}/s"))
    try:
        if backlog:
            publish_paced(bootstrap, topics.orders, events, 0)
        process.start()
        process.wait_ready()
        sampler = None
        if profile:
            sampler = Sampler(process.process.pid, work / "profile.txt")
            sampler.start()
        publisher = threading.Thread(target=publish_paced, args=(bootstrap, topics.orders, [] if backlog else events, rate),
                                     daemon=True)
        publisher.start()
        outputs = first_records(bootstrap, topics.decisions, count, lambda v: v["order_id"], idle=30.0)
        publisher.join()
        profiled = sampler.stop() if sampler is not None else None
        inputs = first_records(bootstrap, topics.orders, count, lambda v: v["order_id"], idle=5.0)
    finally:
        process.stop()
        delete_topics_containing(bootstrap, run)  # the run's own topics, internal ones included
    out_times = [ts for ts, _ in outputs.values()] or [0]
    if backlog:  # processing speed only: from the first output to the last
        latencies = np.array([], dtype=float)
        seconds = max(max(out_times) - min(out_times), 1) / 1000
    else:
        latencies = np.array([outputs[o][0] - inputs[o][0] for o in outputs if o in inputs], dtype=float)
        seconds = max(max(out_times) - min(ts for ts, _ in inputs.values()), 1) / 1000
    figures = {
        "orders": count,
        "outputs": len(outputs),
        "missing": count - len(outputs),
        "seconds": round(seconds, 2),
        "orders_per_second": round(len(outputs) / seconds, 1),
        "published_per_second": rate or None,
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 1) if latencies.size else None,
            "p99": round(float(np.percentile(latencies, 99)), 1) if latencies.size else None,
            "max": round(float(latencies.max()), 1) if latencies.size else None,
        },
    }
    if profiled is not None:
        figures["profile"] = profiled
        for line in format_summary(profiled):
            report(f"{kind} profile: {line}")
    if backlog:
        del figures["latency_ms"]
        report(f"{kind}: {figures['orders_per_second']:,.0f} orders/s through a backlog")
    else:
        report(f"{kind}: {figures['orders_per_second']:,.0f} orders/s, latency p50 {figures['latency_ms']['p50']} ms, "
               f"p99 {figures['latency_ms']['p99']} ms")
    return figures


def bench_stream(
    bootstrap: str,
    *,
    orders: int = 50_000,
    rates: tuple[float, ...] = (5000.0,),
    latency_seconds: float = 4.0,
    seed: int = 11,
    rules: str = "rules",
    partitions: int = 4,
    work_dir: Path = Path("var/bench-stream"),
    report: Report = print,
    profile: bool = False,
) -> dict[str, Any]:
    """Figures for the worker and the pass-through; see the module docstring.  ``profile``
    samples the worker's stacks during its throughput run and adds where its time went."""
    if profile:
        py_spy()  # fail now, not after the pass-through's runs
    events = list(simulate(orders, seed))
    result: dict[str, Any] = {
        "conditions": {
            "orders": orders, "seed": seed, "rules": rules, "partitions": partitions,
            "latency_runs": {f"{r:g}/s": min(orders, int(r * latency_seconds)) for r in rates},
            "bootstrap": bootstrap, "worker": "one riskstream worker process", "cpus": _cpus(),
        },
    }
    for kind in ("passthrough", "worker"):
        figures = {"throughput": _one_run(kind, bootstrap, events, 0, rules, partitions, work_dir, report,
                                          profile=profile and kind == "worker")}
        for rate in rates:
            sample = events[: min(orders, int(rate * latency_seconds))]
            figures[f"latency_at_{rate:g}_per_s"] = _one_run(kind, bootstrap, sample, rate, rules, partitions, work_dir, report)
        result[kind] = figures
    worker, bare = result["worker"]["throughput"], result["passthrough"]["throughput"]
    result["ratio_to_passthrough"] = round(worker["orders_per_second"] / bare["orders_per_second"], 4)
    return result


def _cpus() -> int:
    return len(os.sched_getaffinity(0))
