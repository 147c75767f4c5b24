"""Where an order's CPU goes, what the graph stage carries, memory per entity, and workers for a peak.

* :func:`stage_costs` - microseconds per order of each step of the engine on a
  file's orders: parse and validate, entity keys (canonical text, keyed
  pseudonyms), the graph step, the sliding windows, rules + policy + record;
* :func:`graph_stage_rate` - the stream's one graph instance
  (:class:`~riskstream.stream.stages.graph.GraphStage`) fed the spotted links
  of a file's orders in batches, as screens send them: orders and links per
  CPU second;
* :func:`memory_per_entity` - resident memory per active entity: synthetic
  orders whose every entity is new, counted by the engine in a fresh process;
* :func:`capacity_model` - worker processes for a target rate from those costs.

Costs are CPU time of one process on one core (``time.process_time``), each
the best of ``repeat`` passes, so a busy neighbour on a shared machine
disturbs them less than wall time.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from typing import Any

import orjson

from .. import native
from ..offline.history import read_records
from .memory import rss_mib

KEYED = ("ip", "ip_prefix", "device", "phone", "payment", "address")


def _orders(path: str, limit: int | None) -> list[bytes]:
    lines = []
    for _, raw in read_records([path]):
        lines.append(raw)
        if limit is not None and len(lines) >= limit:
            break
    return lines


def stage_costs(path: str, rules: str | None = None, repeat: int = 2, limit: int | None = 100_000) -> dict[str, Any]:
    """Microseconds per order of each engine step (one engine per pass, the orders in file order)."""
    from ..assembly import load_engine
    from ..events import EventError, parse_order
    from ..offline.replay import fewer_collections

    lines = _orders(path, limit)
    best: dict[str, float] = {}
    clock = time.process_time
    for _ in range(repeat):
        engine = load_engine(rules)
        spent = dict.fromkeys(("parse and validate", "entity keys", "graph", "windows", "rules, policy and record"), 0.0)
        graph = engine.graph
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        with fewer_collections():
            for raw in lines:
                t0 = clock()
                try:
                    event = parse_order(orjson.loads(raw))
                except (EventError, orjson.JSONDecodeError):
                    continue
                t1 = clock()
                if engine.seen(event.order_id):
                    continue
                engine._remember(event.order_id, event.ts)  # as count() does
                engine.observe(event.ts)
                view = engine.view(event)
                for name in KEYED:
                    try:
                        view.entity(name)
                    except EventError:
                        pass
                t2 = clock()
                if graph is not None:
                    graph.observe(view)
                t3 = clock()
                touched = engine.touch(view)
                t4 = clock()
                dumps(engine.conclude(view, touched).to_dict(), option=newline)
                for decision in engine.take_escalations():
                    dumps(decision.to_dict(), option=newline)
                t5 = clock()
                spent["parse and validate"] += t1 - t0
                spent["entity keys"] += t2 - t1
                spent["graph"] += t3 - t2
                spent["windows"] += t4 - t3
                spent["rules, policy and record"] += t5 - t4
        for name, seconds in spent.items():
            best[name] = min(best.get(name, float("inf")), seconds)
    n = max(1, len(lines))
    micros = {name: round(seconds * 1e6 / n, 1) for name, seconds in best.items()}
    return {"orders": len(lines), "state_core": native.implementation(), "windows": len(engine.trackers),
            "micros_per_order": micros, "total_micros_per_order": round(sum(micros.values()), 1),
            "conditions": f"one process, CPU time per step, best of {repeat} passes with a fresh engine; the clock "
                          "is read around each step, which adds ~0.3 us per step"}


def graph_stage_rate(path: str, rules: str | None = None, batch: int = 500, repeat: int = 3,
                     limit: int | None = None) -> dict[str, Any]:
    """The one graph instance fed a file's orders in batches: orders (entries) and links per CPU second."""
    from ..assembly import load_engine
    from ..engine import DecisionEngine
    from ..events import EventError, parse_order
    from ..offline.replay import fewer_collections
    from ..stream.stages.graph import GraphStage

    engine = load_engine(rules)
    if engine.graph is None:
        raise ValueError("the rule set keeps no graph")
    screen = DecisionEngine(engine.ruleset, secret=engine.keys.secret, phone_region=engine.keys.phone_region)
    entries = []
    for raw in _orders(path, limit):  # what the screens send: each order's entry with the spotted links
        try:
            event = parse_order(orjson.loads(raw))
        except (EventError, orjson.JSONDecodeError):
            continue
        screen.observe(event.ts)
        entries.append(screen.graph.entry(screen.view(event)))  # type: ignore[union-attr]
    links = sum(len(e[4]) for e in entries)
    messages = [orjson.dumps({"p": 0, "offset": at + len(chunk) - 1, "upto": max(e[2] for e in chunk), "links": chunk})
                for at in range(0, len(entries), batch) for chunk in [entries[at:at + batch]]]
    best = float("inf")
    for _ in range(repeat):
        stage = GraphStage(DecisionEngine(engine.ruleset, secret=engine.keys.secret), 1, 8)
        released = 0
        with fewer_collections():
            started = time.process_time()
            for message in messages:
                released += sum(len(v) for v in stage.run([orjson.loads(message)]).values())
            best = min(best, time.process_time() - started)
    return {"orders": len(entries), "links": links, "batch": batch, "released": released,
            "orders_per_cpu_second": round(len(entries) / best), "links_per_cpu_second": round(links / best),
            "micros_per_order": round(best * 1e6 / max(1, len(entries)), 2), "state_core": native.implementation(),
            "conditions": f"GraphStage.run on messages of {batch} orders' spotted links (JSON-decoded in the "
                          f"timing), one partition's watermark; CPU time, best of {repeat}"}


def fill(orders: int, rules: str | None) -> dict[str, Any]:
    """The child process of :func:`memory_per_entity`: count ``orders`` synthetic orders with new
    entities only; RSS at each quarter, and the state held at the end."""
    from ..assembly import load_engine
    from ..events import parse_order
    from ..offline.replay import fewer_collections
    from ..testing import make_order

    engine = load_engine(rules)
    samples = [(0, rss_mib())]
    with fewer_collections():
        for n in range(orders):
            fields = make_order(n * 0.001, order_id=f"m-{n}", account_id=f"acct-{n:09d}",
                                ip=f"{10 + n // 16_000_000}.{n // 62_500 % 256}.{n // 250 % 250}.{n % 250 + 1}",
                                device_id=f"dev-{n:09d}", phone=f"139{n:08d}", payment_fingerprint=f"card-{n:09d}",
                                shipping_address=f"上海市浦东新区世纪大道{n}号")
            engine.count(parse_order(fields))
            if (n + 1) % (orders // 4) == 0:
                samples.append((n + 1, rss_mib()))
    return {"rss_mib_by_orders": samples, "state": engine.state_size()}


def memory_per_entity(orders: int = 400_000, rules: str | None = None, pure: bool = False) -> dict[str, Any]:
    """Resident memory per active entity: ``orders`` orders (1000 per second of event time), each
    with a new account, IP, device, phone, card and address, counted by the engine's windows and
    graph in a fresh process (``pure``: on pure Python).  The figure is the RSS growth over the
    second half of the run per entity added, past the bounded key caches filling up in the first half."""
    import os

    program = ("import sys, orjson; from riskstream.bench.capacity import fill; "
               "sys.stdout.buffer.write(orjson.dumps(fill(int(sys.argv[1]), sys.argv[2] or None)))")
    env = {**os.environ, native.ENV: "0"} if pure else None
    done = subprocess.run([sys.executable, "-c", program, str(orders), rules or ""], capture_output=True, check=True,
                          env=env)
    got = orjson.loads(done.stdout)
    samples = got["rss_mib_by_orders"]
    (half, at_half), (end, at_end) = samples[2], samples[4]
    per_order_entities = 6  # account, ip, device, phone, card, address (the /24 prefix is shared)
    per = (at_end - at_half) * 2**20 / ((end - half) * per_order_entities)
    return {"orders": orders, "entities": orders * per_order_entities, "rss_mib_by_orders": samples,
            "bytes_per_entity": round(per), "ten_million_entities_gib": round(per * 10_000_000 / 2**30, 2),
            "state": got["state"], "state_core": "pure Python" if pure else native.implementation(),
            "conditions": "synthetic key space: each order brings six new entities, all held by every window "
                          "that counts them and by the graph (with the order-id memory the dedup keeps); a "
                          "fresh process; RSS growth over the second half of the run per entity added"}


def capacity_model(target: float, engine_micros: float, stream_micros: float | None,
                   graph_orders_per_second: float) -> dict[str, Any]:
    """Worker processes for ``target`` orders/s: each worker (one core) spends ``engine_micros`` deciding
    an order plus the stream's own cost per order (Kafka client, hops, encoding: drain time per
    order minus the engine's, when a stream drain was measured), and the one graph stage takes a
    core of its own.  Every stage but the graph scales by partitions; the graph must fit one core,
    else it caps the whole at ``graph_orders_per_second``."""
    per_order = engine_micros + (stream_micros or 0.0)
    partitioned = math.ceil(target * per_order / 1e6)
    graph_share = target / graph_orders_per_second  # of one core
    fits = graph_share <= 1
    return {"target_orders_per_second": target, "engine_micros_per_order": engine_micros,
            "stream_micros_per_order": stream_micros, "worker_micros_per_order": round(per_order, 1),
            "partitioned_workers": partitioned, "workers": partitioned + 1,
            "graph_stage_core_share": round(graph_share, 2), "graph_stage_fits_one_core": fits,
            "capped_at_orders_per_second": None if fits else round(graph_orders_per_second),
            "conditions": "workers = ceil(target x worker us per order / 1e6) + one core for the one graph stage; "
                          "stream cost per order included only when a stream drain was measured"}
