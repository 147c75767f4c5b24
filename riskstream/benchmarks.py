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


def _rss_mib() -> float:
    """The process's resident memory now (Linux), else its peak."""
    try:
        with open("/proc/self/statm") as statm:
            return round(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return _peak_rss_mib()


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
    samples: list[dict[str, Any]] = []

    def records():
        for n, line in enumerate(shifted_days(per_day, days)):
            if n and n % per_day == 0:  # a day's end: how big are the process and the state now?
                samples.append({"orders": n, "rss_mib": _rss_mib(), "peak_rss_mib": _peak_rss_mib(),
                                **engine.state_size()})
            yield f"day:{n}", line

    report = replay(engine, records())
    return {
        "orders": report.orders,
        "days": days,
        "orders_per_day": per_day,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_before_mib": baseline,
        "state_at_end": engine.state_size(),
        "at_each_day_end": samples,
    }



def bench_address(path: str, similarity: float = 0.7, guard: str = "unit", examples: int = 5) -> dict[str, Any]:
    """Fuzzy address linking over a labelled JSONL file (``riskstream simulate`` output).

    Times :func:`address_signature` per distinct address text and
    :meth:`AddressMatcher.match` for addresses already held and for new
    ones; counts how many exact keys the ring orders use and how many groups
    the matcher makes of them; lists groups that unite several exact keys
    used by benign orders (with a few examples to read), by scenario.
    """
    from collections import defaultdict

    from .address_match import AddressMatcher, address_signature
    from .events import parse_time
    from .normalize import address_text

    secret = b"riskstream bench address key"
    events = [orjson.loads(raw) for _, raw in read_records([path])]
    texts = [ev["shipping_address"] if isinstance(ev["shipping_address"], str) else address_text(ev["shipping_address"])
             for ev in events]
    started = time.perf_counter()
    signatures = {text: address_signature(text, secret) for text in dict.fromkeys(texts)}
    sign_us = (time.perf_counter() - started) / len(signatures) * 1e6

    matcher = AddressMatcher(similarity=similarity, guard=guard)
    timings: dict[str, list[float]] = {"seen": [], "new": []}
    members: dict[str, set[str]] = defaultdict(set)
    scenarios: dict[str, set[str]] = defaultdict(set)
    example_text: dict[str, str] = {}
    clock = time.perf_counter
    for ev, text in zip(events, texts):
        sig = signatures[text]
        if sig is None:
            continue
        ts = parse_time(ev["event_time"], "event_time")
        bucket = timings["seen" if sig.key in matcher else "new"]
        t0 = clock()
        rep = matcher.match(sig, ts)
        bucket.append(clock() - t0)
        members[rep].add(sig.key)
        scenarios[sig.key].add(ev.get("scenario", "?"))
        example_text.setdefault(sig.key, text)

    def us(xs: list[float]) -> dict[str, float]:
        xs = sorted(xs)
        return {"calls": len(xs), "mean_us": round(sum(xs) / len(xs) * 1e6, 2) if xs else 0.0,
                "p99_us": round(xs[int(len(xs) * 0.99)] * 1e6, 2) if xs else 0.0}

    ring_keys = {k for k, s in scenarios.items() if "ring" in s}
    ring_groups = {rep for rep, keys in members.items() if keys & ring_keys}
    benign: dict[str, list[list[str]]] = defaultdict(list)
    for keys in members.values():
        names = set().union(*(scenarios[k] for k in keys))
        if len(keys) > 1 and names - {"ring", "reseller", "bonus_hunter"}:
            benign["+".join(sorted(names))].append([example_text[k] for k in sorted(keys)][:4])
    return {
        "input": path,
        "orders": len(events),
        "config": {"similarity": similarity, "guard": guard},
        "signature_us_per_distinct_text": round(sign_us, 1),
        "match": {"seen_address": us(timings["seen"]), "new_address": us(timings["new"])},
        "ring": {"exact_keys": len(ring_keys), "groups": len(ring_groups)},
        "groups_uniting_benign_keys": {k: len(v) for k, v in sorted(benign.items())},
        "examples": {k: v[:examples] for k, v in sorted(benign.items())},
        "held": {"addresses": matcher.size(), "groups": matcher.groups()},
        "peak_rss_mib": _peak_rss_mib(),
    }


def _graph_step_micros(engine, path: str) -> dict[str, Any]:
    """Time the graph step alone over a file's orders (views built outside the timing)."""
    from .engine.clusters import GraphStep
    from .events import EventError, parse_order

    step = GraphStep(engine.ruleset.graph)
    views = []
    for _, raw in read_records([path]):
        try:
            views.append(engine.view(parse_order(raw)))
        except EventError:
            continue
    for view in views:  # key every entity once, as the rules would before the graph step
        step.nodes(view)
    from .replay import fewer_collections

    with fewer_collections():
        started = time.process_time()
        for view in views:
            step.observe(view)
        seconds = time.process_time() - started
    return {
        "orders": len(views),
        "micros_per_order": round(seconds * 1e6 / max(1, len(views)), 2),
        "what": "GraphStep.observe per order (link, cluster lookup, flash tally), CPU time, entity keys precomputed",
        "graph": step.index.size(),
    }


def bench_graph(path: str, rules: str | None = None, repeat: int = 3, hub_accounts: int = 100_000,
                hub_rate: float = 20.0, hub_retention: float = 1800.0) -> dict[str, Any]:
    """Replay with the graph on and off on the same file, the graph step's cost, and a hub stream."""
    from .cli import load_engine
    from .engine import DecisionEngine
    from .replay import replay

    on = load_engine(rules)
    if on.graph is None:
        raise ValueError("the rule set keeps no graph (no `graph` section or cluster rule)")
    ruleset = on.ruleset
    hubs = hub_stream(ruleset.graph, hub_accounts, hub_rate, hub_retention)  # first, so its RSS is its own
    off_rules = ruleset.without_graph()
    options = {"secret": on.keys.secret, "phone_region": on.keys.phone_region}
    rates: dict[str, float] = {"on": 0.0, "off": 0.0}
    reports: dict[str, Any] = {}
    for _ in range(repeat):
        for name, rs in (("off", off_rules), ("on", ruleset)):  # same run, same file, alternating
            engine = DecisionEngine(rs, **options)
            cpu = time.process_time()
            report = replay(engine, read_records([path]), write=lambda line: None)
            cpu = time.process_time() - cpu  # CPU time: other processes on the machine do not count
            rate = report.orders / cpu if cpu else 0.0
            if rate > rates[name]:
                rates[name] = rate
                reports[name] = {"orders_per_cpu_second": round(rate), "wall_seconds": round(report.seconds, 2),
                                 "actions": dict(report.actions),
                                 "escalations": report.escalations, "state": engine.state_size()}
    return {
        "input": path,
        "conditions": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                       "process": "one process, one thread (one core); rates per CPU second, best of the repeats",
                       "ruleset": on.version, "repeat": repeat,
                       "off": "the same rules without the graph section and the rules with cluster conditions"},
        "replay_graph_off": reports["off"],
        "replay_graph_on": reports["on"],
        "on_to_off_ratio": round(rates["on"] / rates["off"], 3) if rates["off"] else 0.0,
        "graph_step": _graph_step_micros(on, path),
        "hub_stream": hubs,
        "peak_rss_mib": _peak_rss_mib(),
    }


def hub_stream(settings, accounts: int = 100_000, rate: float = 20.0, retention: float = 1800.0,
               slices: int = 10) -> dict[str, Any]:
    """One IP shared by ``accounts`` new accounts (each with its own device), ``rate`` orders per
    second of event time, through the graph step; speed, graph size and RSS per slice.

    The step's :class:`~riskstream.graph.LinkSpotter` counts the links it passes on (the
    stream's graph stage gets only those), to show that the new-link stream stays small too.
    """
    import gc

    from .engine.clusters import GraphStep
    from .engine.order_view import EntityKeys, OrderView, SaleIndex
    from .events import parse_order
    from .testing import BASE_TIME

    links = list(settings.links) + ([] if "ip" in settings.links else ["ip"])  # the hub under test is an IP
    step = GraphStep(settings.model_copy(update={"retention": retention, "links": links}))
    keys = EntityKeys(b"bench-hub-stream")
    sales = SaleIndex({})
    start = BASE_TIME.timestamp()
    per_slice = max(1, accounts // slices)
    out = []
    done = 0
    from .replay import fewer_collections

    gc.collect()
    rss_before = _rss_mib()
    while done < accounts:
        n = min(per_slice, accounts - done)
        views = []
        for i in range(done, done + n):
            ts = start + i / rate
            event = parse_order({
                "order_id": f"h-{i}", "event_time": datetime.fromtimestamp(ts, BASE_TIME.tzinfo).isoformat(),
                "account_id": f"hub-{i}", "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": 9.9}],
                "ip": "100.64.0.1", "device_id": f"dev-{i}",
            })
            views.append(OrderView(event, sales, keys))
        nodes = [step.nodes(view) for view in views]  # keyed outside the timing, as the rules would
        with fewer_collections():
            started = time.process_time()
            for view in views:
                step.observe(view)
            seconds = time.process_time() - started
        done += n
        del views, nodes
        out.append({"orders": done, "event_hours": round(done / rate / 3600, 2),
                    "orders_per_cpu_second": round(n / seconds) if seconds else 0,
                    "graph": step.index.size(), "hub_links_recorded": sum(h.links for h in step.index.hubs.values()),
                    "spotter_links_held": len(step.spotter), "new_links_sent": step.spotter.passed, "rss_mib": _rss_mib()})
    return {"accounts": accounts, "orders_per_second_event_time": rate, "retention_seconds": retention,
            "links": links, "ip_hub_accounts": step.index.hub_limit("ip:"), "rss_before_mib": rss_before, "slices": out}
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
