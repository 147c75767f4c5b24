"""The kill test: decide a simulated day while a worker is SIGKILLed and restarted.

It publishes the orders, starts a worker, kills it with SIGKILL at random
moments (each time after it has made progress) and restarts it, then reads
every decision and counts what matters:

* ``missing`` - orders without a decision (target 0);
* ``conflicting`` - orders with two different records for one revision (target 0);
* ``differ_from_replay`` - orders whose final decision is not replay's (target 0).

``riskstream bench kill`` runs it and prints the figures; the integration
tests run a smaller one.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..harness import (
    DecisionTally,
    WorkerProcess,
    compressed_time_settings,
    describe_difference,
    publish_paced,
    replay_final,
    same_time_ties,
)
from ..kafka.topics import Topics, delete_topics_containing, ensure_topics
from ..sim import simulate


def kill_test(bootstrap: str, *, orders: int, kills: int, seed: int = 0, rules: str = "rules",
              work_dir: Path = Path("var/kill-test"), partitions: int = 4, timeout: float = 900.0,
              rate: float = 1000.0, settings: dict[str, str] | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=partitions)
    ensure_topics(bootstrap, topics)
    work_dir = work_dir / suffix
    work_dir.mkdir(parents=True, exist_ok=True)
    events = list(simulate(orders, seed=seed))
    publisher = threading.Thread(target=publish_paced, args=(bootstrap, topics.orders, events, rate), daemon=True)

    settings = compressed_time_settings() if settings is None else settings
    worker = WorkerProcess(bootstrap, topics, f"rs-kill-{suffix}", work_dir, rules, settings)
    tally = DecisionTally(bootstrap, topics.decisions)
    started = time.monotonic()
    killed_at: list[int] = []
    try:
        worker.start()
        worker.wait_ready()
        publisher.start()
        # Kill moments spread over the whole run: after a random number of
        # decisions in each of ``kills`` equal slices of the orders, plus a
        # random delay, and never before the restarted worker made progress.
        slice_size = orders / (kills + 1)
        targets = [int(slice_size * (n + rng.uniform(0.2, 1.0))) for n in range(kills)]
        while len(killed_at) < kills and time.monotonic() - started < timeout:
            before = tally.poll()
            target = max(targets[len(killed_at)], before + 1)
            while tally.poll() < target and time.monotonic() - started < timeout:
                time.sleep(0.1)
            time.sleep(rng.uniform(0.0, 2.0))
            if tally.poll() >= orders:
                break  # finished before every kill could land
            worker.kill()
            killed_at.append(len(tally.records))
            worker.start()
        tally.settle(orders, deadline=started + timeout)
        seconds = time.monotonic() - started
    finally:
        worker.stop()
        tally.close()
        if publisher.ident is not None:
            publisher.join()
        delete_topics_containing(bootstrap, suffix)  # the run's topics and the worker's internal ones

    replayed = replay_final(rules, events)
    offline = {order: decision.action.label for order, decision in replayed.items()}
    missing = [o for o in offline if o not in tally.records]
    conflicting, differ = [], []
    for order, records in tally.records.items():
        by_revision: dict[int, set[str]] = {}
        for r in records:
            by_revision.setdefault(r["revision"], set()).add(r["action"])
        if any(len(actions) > 1 for actions in by_revision.values()):
            conflicting.append(order)
        final = max(records, key=lambda r: r["revision"])["action"]
        if final != offline.get(order):
            differ.append(order)
    return {
        "orders": orders,
        "kills": len(killed_at),
        "decided_when_killed": killed_at,
        "seconds": round(seconds, 1),
        "decision_records": sum(len(r) for r in tally.records.values()),
        "missing": len(missing),
        "conflicting": len(conflicting),
        "differ_from_replay": len(differ),
        "examples": {"missing": missing[:5], "conflicting": conflicting[:5], "differ": differ[:5]},
        "differences": [describe_difference(tally.records[o], replayed[o]) for o in differ[:5]],
        "unexplained": [o for o in differ if not same_time_ties(o, events)],
        "logs": str(work_dir),
    }
