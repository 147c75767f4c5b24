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
import resource
import time
from datetime import datetime, timedelta
from typing import Any, Iterator

import orjson

from .history import read_records


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_replay(path: str, rules: str | None = None, repeat: int = 1, model: str | None = None) -> dict[str, Any]:
    """``model``: score with the anomaly model too (micro-batches of 1000)."""
    from .cli import load_engine, load_scoring
    from .replay import replay

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
    rss_after_parse = _peak_rss_mib()

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
        "peak_rss_mib": {"after_parse": rss_after_parse, "after_replay": _peak_rss_mib()},
    }


def shifted_days(orders_per_day: int, days: int, seed: int = 0) -> Iterator[bytes]:
    """``days`` consecutive simulated days (a new seed each), as JSONL lines in time order."""
    from .simulate import simulate

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
    from .cli import load_engine
    from .replay import replay

    engine = load_engine(rules)
    baseline = _peak_rss_mib()
    per_day = orders // days
    records = ((f"day:{n}", line) for n, line in enumerate(shifted_days(per_day, days)))
    report = replay(engine, records)
    return {
        "orders": report.orders,
        "days": days,
        "orders_per_day": per_day,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_before_mib": baseline,
        "state_at_end": engine.state_size(),
    }


def bench_model(path: str, model: str, rules: str | None = None, rows: int = 20_000) -> dict[str, Any]:
    """Scoring cost per row by batch size: the compiled forest used in production beside
    scikit-learn's ``score_samples`` on the same rows (features from the first ``rows`` orders)."""
    import numpy as np

    from .cli import load_engine
    from .model import load_model
    from .model.train import read_history

    loaded = load_model(model)
    history = read_history(load_engine(rules), (r for _, r in zip(range(rows), read_records([path]))))
    table = history.rows
    out: dict[str, Any] = {"model": loaded.version, "trees": len(loaded.estimator.estimators_), "rows": len(table),
                           "us_per_row": {}}
    for name, score in (("compiled", loaded.forest.score_samples), ("scikit-learn", loaded.estimator.score_samples)):
        figures = {}
        for batch in (1, 10, 100, 1000):
            calls = max(3, min(200, 2000 // batch)) if name == "compiled" else max(3, min(30, 300 // batch))
            started = time.perf_counter()
            for i in range(calls):
                start = (i * batch) % max(1, len(table) - batch)
                score(table[start:start + batch])
            figures[f"batch_{batch}"] = round((time.perf_counter() - started) / (calls * batch) * 1e6, 1)
        out["us_per_row"][name] = figures
    equal = np.allclose(loaded.forest.score_samples(table[:1000]), loaded.estimator.score_samples(table[:1000]),
                        rtol=0, atol=1e-12)
    out["compiled_equals_scikit_learn"] = bool(equal)
    return out
