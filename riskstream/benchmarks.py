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


class _Counted:
    """An iterable that counts the records taken from it."""

    def __init__(self, records):
        self.records = records
        self.taken = 0

    def __iter__(self):
        for record in self.records:
            self.taken += 1
            yield record


def _lockstep_child(make_engine, path: str, conn) -> None:
    """One side of :func:`lockstep_replay`: replay ``path`` a chunk at a time, on request."""
    from .replay import ReplayReport, decide_records, fewer_collections

    engine = make_engine()
    source = _Counted(read_records([path]))
    decisions = decide_records(engine, source, ReplayReport())
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    spent: list[float] = []
    done = False
    with fewer_collections():
        while (end := conn.recv()) is not None:
            started = time.process_time()
            if not done:
                for _, decision in decisions:  # the replay path: decide, then encode the record
                    dumps(decision.to_dict(), option=newline)
                    if source.taken >= end:
                        break  # an escalation the order caused follows in the next chunk
                else:
                    done = True
            spent.append(time.process_time() - started)
            conn.send(done)
    conn.send((source.taken, spent, engine.state_size()))


def lockstep_replay(path: str, engines: dict[str, Any], chunk: int = 250) -> dict[str, dict[str, Any]]:
    """Replay ``path`` with several engines side by side, ``chunk`` orders at a time in turn.

    ``engines`` maps a name to a function that builds the engine.  Each engine
    runs in its own forked process (nothing shared: not even the normalisation
    caches), and only one runs at a time: each takes the next ``chunk`` orders
    while the others wait.  A slow spell of a shared machine therefore falls on
    all of them alike, which comparing separate runs cannot promise (identical
    runs here differ by 10-30 %).  Per engine: orders, CPU seconds, the CPU
    seconds of each chunk, and its state at the end.
    """
    import multiprocessing

    context = multiprocessing.get_context("fork")
    sides = {}
    for name, make in engines.items():
        parent, child = context.Pipe()
        process = context.Process(target=_lockstep_child, args=(make, path, child), daemon=True)
        process.start()
        sides[name] = (parent, process)
    try:
        end = 0
        finished: dict[str, bool] = {}
        while not (finished and all(finished.values())):
            end += chunk
            for name, (conn, _) in sides.items():
                conn.send(end)
                finished[name] = conn.recv()
        out = {}
        for name, (conn, process) in sides.items():
            conn.send(None)
            orders, spent, state = conn.recv()
            process.join()
            out[name] = {"orders": orders, "cpu_seconds": sum(spent), "chunks": spent, "state": state}
        return out
    finally:
        for _, process in sides.values():
            if process.is_alive():
                process.kill()


def reference_loop_ns(repeat: int = 3) -> float:
    """Nanoseconds per iteration of a fixed pure-Python loop (best of ``repeat``): how fast this
    machine runs Python right now, printed beside timings that drift with it."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        total = 0
        for i in range(1_000_000):
            total += i * i % 7
        best = min(best, time.process_time() - started)
    return round(best * 1e3, 1)


def _graph_step_micros(engine, path: str, repeat: int = 5, chunk: int = 1000) -> dict[str, Any]:
    """Time the graph step alone over a file's orders, best and median of ``repeat`` passes
    with a fresh graph, with the union-find's own part.

    Each pass reads the orders ``chunk`` at a time and, outside the timing, parses them and
    builds their views with the entity keys the rules would have computed; then times the
    graph step over the chunk.  The step thus meets orders just built, as it does in replay
    and in the stream, and not objects built a whole file earlier."""
    import statistics

    from .engine.clusters import GraphStep
    from .events import EventError, parse_order
    from .replay import fewer_collections

    def fresh() -> GraphStep:
        return GraphStep(engine.ruleset.graph, engine.sales)

    # Each order's entity keys, as the rules would compute them before the graph step; and its
    # links as a spotter passes them on (an entry's account, links, time, born), which feed the
    # union-find alone.
    feeder = fresh()
    lines, keys, entries = [], [], []
    for _, raw in read_records([path]):
        try:
            view = engine.view(parse_order(orjson.loads(raw)))
        except (EventError, orjson.JSONDecodeError):
            continue
        entry = feeder.entry(view, False)  # keys the entities the graph links (a bad IP links nothing)
        lines.append(raw)
        keys.append(view.keys())
        entries.append((entry[1], entry[4], entry[2], entry[3]))
    steps, unions = [], []
    for _ in range(repeat):
        step = fresh()
        observe = step.observe
        seconds = 0.0
        with fewer_collections():
            for at in range(0, len(lines), chunk):
                views = []
                for raw, known in zip(lines[at:at + chunk], keys[at:at + chunk]):
                    view = engine.view(parse_order(orjson.loads(raw)))
                    view.preset(known)
                    views.append(view)
                started = time.process_time()
                for view in views:
                    observe(view)
                seconds += time.process_time() - started
        steps.append(seconds)
        index = fresh().index  # the union-find alone: the same links, then the cluster lookup
        link, cluster_of = index.link, index.cluster_of
        with fewer_collections():
            started = time.process_time()
            for account, nodes, ts, born in entries:
                link(account, nodes, ts, born)
                cluster_of(account)
            unions.append(time.process_time() - started)
    n = max(1, len(lines))

    def micros(seconds: list[float]) -> dict[str, float]:
        return {"best": round(min(seconds) * 1e6 / n, 2), "median": round(statistics.median(seconds) * 1e6 / n, 2)}

    return {
        "orders": len(lines),
        "repeat": repeat,
        "reference_loop_ns": reference_loop_ns(),
        "micros_per_order": micros(steps),
        "what": "GraphStep.observe per order: name the entity nodes, spot the new links (the stream's feed), "
                "link them in the union-find, look up the cluster, tally flash units; CPU time over orders "
                f"parsed {chunk} at a time just before, with their entity keys computed outside the timing",
        "union_find_micros_per_order": micros(unions),
        "union_find_what": "ClusterIndex.link and cluster_of alone, on the same links",
        "graph": step.index.size(),
    }


def bench_graph(path: str, rules: str | None = None, repeat: int = 3, hub_accounts: int = 100_000,
                hub_rate: float = 20.0, hub_retention: float = 1800.0, chunk: int = 250) -> dict[str, Any]:
    """Replay with the graph on and off on the same file (side by side, see :func:`lockstep_replay`),
    the graph step's cost, and a hub stream."""
    import statistics

    from .cli import load_engine
    from .engine import DecisionEngine

    on = load_engine(rules)
    if on.graph is None:
        raise ValueError("the rule set keeps no graph (no `graph` section or cluster rule)")
    ruleset = on.ruleset
    hubs = hub_stream(ruleset.graph, hub_accounts, hub_rate, hub_retention)  # first, so its RSS is its own
    off_rules = ruleset.without_graph()
    options = {"secret": on.keys.secret, "phone_region": on.keys.phone_region}
    engines = {"off": lambda: DecisionEngine(off_rules, **options), "on": lambda: DecisionEngine(ruleset, **options)}
    runs = []
    state: dict[str, int] = {}
    for _ in range(repeat):
        sides = lockstep_replay(path, engines, chunk)
        off, on_ = sides["off"], sides["on"]
        chunk_ratios = [a / b for a, b in zip(off["chunks"], on_["chunks"]) if a > 0 and b > 0]
        runs.append({
            "off_orders_per_cpu_second": round(off["orders"] / off["cpu_seconds"]),
            "on_orders_per_cpu_second": round(on_["orders"] / on_["cpu_seconds"]),
            "on_to_off_ratio": round(off["cpu_seconds"] / on_["cpu_seconds"], 3),
            "median_chunk_ratio": round(statistics.median(chunk_ratios), 3) if chunk_ratios else 0.0,
        })
        state = on_["state"]
    ratios = [r["on_to_off_ratio"] for r in runs]
    return {
        "input": path,
        "conditions": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                       "process": f"graph off and on replay side by side in two processes, {chunk} orders at a time "
                                  "in turn (one runs while the other waits), so both meet the same machine; "
                                  "rates per CPU second",
                       "ruleset": on.version, "repeat": repeat,
                       "off": "the same rules without the graph section and the rules with cluster conditions"},
        "runs": runs,
        "on_to_off_ratio": statistics.median(ratios),
        "state_graph_on": state,
        "graph_step": _graph_step_micros(on, path),
        "hub_stream": hubs,
        "peak_rss_mib": _peak_rss_mib(),
    }


def hub_stream(settings, accounts: int = 100_000, rate: float = 20.0, retention: float = 1800.0,
               slices: int = 10) -> dict[str, Any]:
    """One IP shared by ``accounts`` new accounts (each with its own device), ``rate`` orders per
    second of event time, through the graph step; speed, graph size and RSS per slice.

    The index counts the links it takes: the new ones and the refreshes, which is what the
    stream's :class:`~riskstream.graph.LinkSpotter` passes on to the graph stage, to show that
    the new-link stream stays small too; and the accounts the hub remembers for that.
    """
    import gc

    from .engine.clusters import GraphStep
    from .engine.order_view import EntityKeys, OrderView, SaleIndex
    from .events import parse_order
    from .testing import BASE_TIME

    links = list(settings.links) + ([] if "ip" in settings.links else ["ip"])  # the hub under test is an IP
    sales = SaleIndex({})
    step = GraphStep(settings.model_copy(update={"retention": retention, "links": links}), sales)
    keys = EntityKeys(b"bench-hub-stream")
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
                    "hub_accounts_remembered": sum(len(h.seen or ()) for h in step.index.hubs.values()),
                    "new_links_taken": step.index.passed, "rss_mib": _rss_mib()})
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
