"""``riskstream bench address``: fuzzy address linking on labelled orders."""

from __future__ import annotations

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
    from ..entities.fuzzy import AddressMatcher, address_signature
    from ..events import parse_time

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
        "peak_rss_mib": peak_rss_mib(),
    }
