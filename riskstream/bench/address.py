"""``riskstream bench address``: fuzzy address linking on labelled orders;
``riskstream bench fuzzy``: its cost in replay and what it changes in detection."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import orjson

from ..offline.history import read_records
from .memory import peak_rss_mib


def bench_address(path: str, similarity: float = 0.7, guard: str = "unit", examples: int = 5) -> dict[str, Any]:
    """Fuzzy address linking over a labelled JSONL file (``riskstream simulate`` output).

    Times :func:`address_signature` per distinct address text and
    :meth:`AddressMatcher.match` for addresses already held and for new
    ones; counts how many exact keys the ring orders use and how many groups
    the matcher makes of them; lists groups that unite several exact keys
    used by benign orders (with a few examples to read), by scenario.
    """
    from collections import defaultdict

    from ..entities import address_text
    from ..entities.fuzzy import address_signature, new_address_matcher
    from ..events import parse_time

    secret = b"riskstream bench address key"
    events = [orjson.loads(raw) for _, raw in read_records([path])]
    texts = [ev["shipping_address"] if isinstance(ev["shipping_address"], str) else address_text(ev["shipping_address"])
             for ev in events]
    started = time.perf_counter()
    signatures = {text: address_signature(text, secret) for text in dict.fromkeys(texts)}
    sign_us = (time.perf_counter() - started) / len(signatures) * 1e6

    matcher = new_address_matcher(similarity=similarity, guard=guard)
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
        "peak_rss_mib": peak_rss_mib(),
    }


def _without_fuzzy(ruleset: Any) -> Any:
    """The same rule set with exact address links only (``graph.fuzzy_addresses`` off)."""
    from dataclasses import replace

    return replace(ruleset, graph=ruleset.graph.model_copy(update={"fuzzy_addresses": None}))


def _detection(engine: Any, path: str) -> dict[str, Any]:
    """Blocked (held or frozen) share per simulator scenario, and of benign orders as a whole."""
    from ..offline.replay import replay
    from ..sim import SCENARIOS

    report = replay(engine, read_records([path]), label_field="label", group_field="scenario").to_dict()
    groups = report.get("groups", {})
    benign = [name for name, (label, _, _) in SCENARIOS.items() if label == 0 and name in groups]
    abusive = [name for name, (label, _, _) in SCENARIOS.items() if label == 1 and name in groups]
    orders = sum(groups[name]["orders"] for name in benign)
    held = sum(groups[name]["actions"].get("hold", 0) + groups[name]["actions"].get("freeze", 0) for name in benign)
    return {
        "blocked_recall": {name: groups[name]["blocked_share"] for name in abusive},
        "benign_held_share": round(held / orders, 5) if orders else 0.0,
        "benign_frozen": sum(groups[name]["actions"].get("freeze", 0) for name in benign),
        "benign_held_by_scenario": {name: groups[name]["blocked_share"] for name in benign},
        "labels": report.get("labels", {}),
    }


def bench_fuzzy(path: str, rules: str | None = None, repeat: int = 3, chunk: int = 250,
                detection: bool = True) -> dict[str, Any]:
    """Replay with fuzzy address linking off and on, same rules otherwise, same file, side by side.

    The two sides run in two forked processes, ``chunk`` orders at a time in turn
    (:func:`~riskstream.bench.graph.lockstep_replay`), so a slow spell of a shared
    machine falls on both; rates are per CPU second. ``repeat`` such runs, the median
    ratio counts. With ``detection``, one more replay of each side (not timed) gives
    the blocked share per simulator scenario and the benign held share.
    """
    import statistics

    from ..assembly import load_engine
    from ..engine import DecisionEngine
    from .graph import off_and_on, reference_loop_ns

    on = load_engine(rules)
    ruleset = on.ruleset
    if ruleset.graph is None or ruleset.graph.fuzzy_addresses is None:
        raise ValueError("the rule set does not link addresses fuzzily (graph.fuzzy_addresses is not set)")
    if "address" not in ruleset.graph.links:
        raise ValueError("the rule set's graph does not link addresses (graph.links has no address)")
    runs = []
    state: dict[str, Any] = {}
    off_rules = _without_fuzzy(ruleset)
    for off, on_ in off_and_on(path, on, off_rules, repeat, chunk):
        chunk_ratios = [b / a for a, b in zip(off["chunks"], on_["chunks"]) if a > 0 and b > 0]
        runs.append({
            "off_orders_per_cpu_second": round(off["orders"] / off["cpu_seconds"]),
            "on_orders_per_cpu_second": round(on_["orders"] / on_["cpu_seconds"]),
            "on_to_off_time_ratio": round(on_["cpu_seconds"] / off["cpu_seconds"], 3),
            "median_chunk_time_ratio": round(statistics.median(chunk_ratios), 3) if chunk_ratios else 0.0,
        })
        state = on_["state"]
    ratios = [r["on_to_off_time_ratio"] for r in runs]
    fuzzy = ruleset.graph.fuzzy_addresses
    out: dict[str, Any] = {
        "input": path,
        "conditions": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                       "process": f"fuzzy off and on replay side by side in two processes, {chunk} orders at a "
                                  "time in turn (one runs while the other waits); rates per CPU second",
                       "ruleset": on.version, "repeat": repeat,
                       "fuzzy_addresses": {"similarity": fuzzy.similarity, "guard": fuzzy.guard},
                       "off": "the same rules with graph.fuzzy_addresses unset (exact address keys only)",
                       "reference_loop_ns": reference_loop_ns()},
        "runs": runs,
        "on_to_off_time_ratio": statistics.median(ratios),
        "fuzzy_cost_share": round(statistics.median(ratios) - 1.0, 3),
        "state_fuzzy_on": state,
    }
    if detection:
        options = {"secret": on.keys.secret, "phone_region": on.keys.phone_region}
        out["detection"] = {"off": _detection(DecisionEngine(off_rules, **options), path),
                            "on": _detection(DecisionEngine(ruleset, **options), path)}
    out["peak_rss_mib"] = peak_rss_mib()
    return out
