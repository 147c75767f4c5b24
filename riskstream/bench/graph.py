"""``riskstream bench graph``: replay with the graph on and off, the graph step, and a hub stream."""

from __future__ import annotations

import os
import platform
import time
from datetime import datetime
from typing import Any

import orjson

from ..offline.history import read_records
from .memory import peak_rss_mib, rss_mib


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
    from ..offline.replay import ReplayReport, decide_records, fewer_collections

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


def off_and_on(path: str, on: Any, off_rules: Any, repeat: int, chunk: int):
    """``repeat`` lock-step replays of ``path``: an engine on ``off_rules`` beside one on ``on``'s
    rule set, both with ``on``'s keys; yields each run's (off, on) sides of :func:`lockstep_replay`."""
    from ..engine import DecisionEngine

    options = {"secret": on.keys.secret, "phone_region": on.keys.phone_region}
    engines = {"off": lambda: DecisionEngine(off_rules, **options), "on": lambda: DecisionEngine(on.ruleset, **options)}
    for _ in range(repeat):
        sides = lockstep_replay(path, engines, chunk)
        yield sides["off"], sides["on"]


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

    from ..engine.clusters import GraphStep
    from ..events import EventError, parse_order
    from ..offline.replay import fewer_collections

    def fresh() -> GraphStep:
        return GraphStep(engine.ruleset.graph, engine.sales, engine.keys.secret)

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

    from ..assembly import load_engine

    on = load_engine(rules)
    if on.graph is None:
        raise ValueError("the rule set keeps no graph (no `graph` section or cluster rule)")
    ruleset = on.ruleset
    hubs = hub_stream(ruleset.graph, hub_accounts, hub_rate, hub_retention)  # first, so its RSS is its own
    runs = []
    state: dict[str, int] = {}
    for off, on_ in off_and_on(path, on, ruleset.without_graph(), repeat, chunk):
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
        "peak_rss_mib": peak_rss_mib(),
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

    from ..engine.clusters import GraphStep
    from ..engine.order_view import EntityKeys, OrderView, SaleIndex
    from ..events import parse_order
    from ..testing import BASE_TIME

    links = list(settings.links) + ([] if "ip" in settings.links else ["ip"])  # the hub under test is an IP
    sales = SaleIndex({})
    step = GraphStep(settings.model_copy(update={"retention": retention, "links": links}), sales)
    keys = EntityKeys(b"bench-hub-stream")
    start = BASE_TIME.timestamp()
    per_slice = max(1, accounts // slices)
    out = []
    done = 0
    from ..offline.replay import fewer_collections

    gc.collect()
    rss_before = rss_mib()
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
                    "new_links_taken": step.index.passed, "rss_mib": rss_mib()})
    return {"accounts": accounts, "orders_per_second_event_time": rate, "retention_seconds": retention,
            "links": links, "ip_hub_accounts": step.index.hub_limit("ip:"), "rss_before_mib": rss_before, "slices": out}
