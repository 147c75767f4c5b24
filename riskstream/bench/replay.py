"""Benchmarks that print figures (never timed tests).

``riskstream bench replay FILE`` measures, in one process and one run:

* ``bare_parse``: a loop that only reads and JSON-decodes each line - the floor;
* ``replay``: the full offline path - read, decode, validate, decide, encode
  the decision as JSONL (written to a discarding sink);

and reports orders/s for both, their ratio, the engine's state size at the
end, and the process's peak RSS.  Run it on files of different sizes to see
memory stay bounded by the window rather than the input.
"""

from __future__ import annotations

import os
import platform
import time
from datetime import datetime, timedelta
from typing import Any, Iterator

import orjson

from ..offline.history import read_records
from .memory import peak_rss_mib, rss_mib


def bench_replay(path: str, rules: str | None = None, repeat: int = 1, model: str | None = None) -> dict[str, Any]:
    """``model``: score with the anomaly model too (micro-batches of 1000)."""
    from ..assembly import load_engine, load_scoring
    from ..offline.replay import replay

    loads = orjson.loads
    best_parse = float("inf")
    lines = 0
    for _ in range(repeat):
        started = time.perf_counter()
        lines = 0
        for _, raw in read_records([path]):
            loads(raw)
            lines += 1
        best_parse = min(best_parse, time.perf_counter() - started)
    rss_after_parse = peak_rss_mib()

    best = None
    for _ in range(repeat):
        engine = load_engine(rules)
        scoring = load_scoring(engine, model) if model else None
        sink = bytearray()

        def write(line: bytes) -> None:
            sink.extend(line)
            if len(sink) > 1 << 20:
                sink.clear()

        report = replay(engine, read_records([path]), write=write, scoring=scoring)
        if best is None or report.seconds < best[0].seconds:
            best = (report, engine)
    assert best is not None
    report, engine = best
    parse_rate = lines / best_parse if best_parse else 0.0
    replay_rate = report.orders / report.seconds if report.seconds else 0.0
    return {
        "input": path,
        "input_mib": round(os.path.getsize(path) / 2**20, 1),
        "lines": lines,
        "conditions": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "process": "one process, one thread (one core)",
            "ruleset": engine.version,
            "rules": len(engine.checks),
            "windows": len(engine.trackers),
            "repeat": repeat,
            "model": report.model_version,
        },
        "bare_parse": {"seconds": round(best_parse, 3), "orders_per_second": round(parse_rate)},
        "replay": {
            "seconds": round(report.seconds, 3),
            "orders_per_second": round(replay_rate),
            "orders": report.orders,
            "invalid": report.invalid,
            "actions": dict(report.actions),
        },
        "replay_to_parse_ratio": round(replay_rate / parse_rate, 3) if parse_rate else 0.0,
        "state": engine.state_size(),
        "peak_rss_mib": {"after_parse": rss_after_parse, "after_replay": peak_rss_mib()},
    }


def shifted_days(orders_per_day: int, days: int, seed: int = 0) -> Iterator[bytes]:
    """``days`` consecutive simulated days (a new seed each), as JSONL lines in time order."""
    from ..sim import simulate

    for day in range(days):
        shift = timedelta(days=day)
        for event in simulate(orders_per_day, seed + day):
            event["order_id"] = f"d{day}-{event['order_id']}"
            for field in ("event_time", "account_created_at"):
                if field in event:
                    event[field] = (datetime.fromisoformat(event[field]) + shift).isoformat(timespec="milliseconds")
            yield orjson.dumps(event)


def bench_memory(orders: int, days: int, rules: str | None = None) -> dict[str, Any]:
    """Peak RSS of a replay of ``orders`` spread over ``days`` days (generated in process)."""
    from ..assembly import load_engine
    from ..offline.replay import replay

    engine = load_engine(rules)
    baseline = peak_rss_mib()
    per_day = orders // days
    samples: list[dict[str, Any]] = []

    def records():
        for n, line in enumerate(shifted_days(per_day, days)):
            if n and n % per_day == 0:  # a day's end: how big are the process and the state now?
                samples.append({"orders": n, "rss_mib": rss_mib(), "peak_rss_mib": peak_rss_mib(),
                                **engine.state_size()})
            yield f"day:{n}", line

    report = replay(engine, records())
    return {
        "orders": report.orders,
        "days": days,
        "orders_per_day": per_day,
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_mib": baseline,
        "state_at_end": engine.state_size(),
        "at_each_day_end": samples,
    }
