"""The simulated day as one stream: scenarios merged by time, order ids assigned, JSONL written."""

from __future__ import annotations

import heapq
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import nullcontext

import orjson

from .attacks import bonus_hunters, resellers, rings
from .farms import aged_rings, multi_resellers, sim_farms
from .shoppers import campus, families, fans, nat, offices, repeat_buyers, shoppers
from .world import Gen, Shared, by_time

__all__ = ["SCENARIOS", "scenario_counts", "simulate", "write_jsonl"]


#: scenario -> (label, share of the orders, generator)
SCENARIOS: dict[str, tuple[int, float, Callable]] = {
    "shopper": (0, .62, shoppers), "fan": (0, .10, fans), "nat": (0, .04, nat), "campus": (0, .02, campus),
    "family": (0, .02, families), "office": (0, .02, offices), "repeat_buyer": (0, .02, repeat_buyers),
    "ring": (1, .08, rings), "reseller": (1, .01, resellers), "bonus_hunter": (1, .02, bonus_hunters),
    "aged_ring": (1, .02, aged_rings), "sim_farm": (1, .02, sim_farms), "multi_reseller": (1, .01, multi_resellers),
}


def scenario_counts(orders: int) -> dict[str, int]:
    """How many of ``orders`` each scenario produces (largest-remainder rounding of the shares)."""
    raw = {k: orders * v[1] for k, v in SCENARIOS.items()}
    counts = {k: int(x) for k, x in raw.items()}
    for k in sorted(raw, key=lambda k: counts[k] - raw[k])[: orders - sum(counts.values())]:
        counts[k] += 1
    return counts


def simulate(orders: int, seed: int = 0) -> Iterator[dict]:
    """Exactly ``orders`` labelled order events of 2026-11-11, in non-decreasing event-time order."""
    if orders < 0:
        raise ValueError("orders must be >= 0")
    shared = Shared(seed)
    streams = [SCENARIOS[name][2](Gen(seed, name, shared), count)
               for name, count in scenario_counts(orders).items() if count]
    for i, (_, ev) in enumerate(heapq.merge(*streams, key=by_time), 1):
        ev["order_id"] = f"o-{i:09d}"
        yield ev


CHUNK = 10_000  #: lines per write, and how often ``progress`` hears of them


def write_jsonl(path: str | os.PathLike | None, orders: int, seed: int = 0,
                progress: Callable[[int], None] | None = None) -> int:
    """Write ``simulate(orders, seed)`` as JSONL to ``path`` (None or "-": stdout); return the count."""
    to_stdout = path is None or os.fspath(path) == "-"
    dumps, opt, buf, n = orjson.dumps, orjson.OPT_APPEND_NEWLINE, [], 0
    with nullcontext(sys.stdout.buffer) if to_stdout else open(path, "wb") as out:
        for ev in simulate(orders, seed):
            buf.append(dumps(ev, option=opt))
            n += 1
            if len(buf) == CHUNK:
                out.write(b"".join(buf))
                buf.clear()
                if progress:
                    progress(n)
        out.write(b"".join(buf))
        out.flush()
        if progress and n % CHUNK:
            progress(n)
    return n
