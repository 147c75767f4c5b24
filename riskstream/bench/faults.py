"""Fault scenarios on a real broker with real workers: what ``riskstream chaos`` runs.

Every scenario publishes a simulated day at a steady pace, injects its fault
several times while orders flow, lets the workers finish, reads every
decision and counts what matters, as Flink's SemanticsCheckMapper and Kafka's
system tests do:

``lost``
    orders without a decision (target 0);
``conflicting``
    orders with two different records for one revision (target 0);
``drift``
    orders whose final decision is not replay's (target 0; ties of one key
    at one event time across partitions are the known exception, see
    :func:`~riskstream.harness.same_time_ties`, and are reported apart);
``recovery``
    the longest time from the end of a fault (a worker restarted, the broker
    answering again) to the next decision published.

Scenarios (:data:`SCENARIOS`):

``worker-kill``     one worker SIGKILLed and restarted;
``broker-bounce``   the broker SIGKILLed and started again on its data; the
                    orders go out through the producer helper, which retries;
``rebalance``       two workers over six partitions, a random member SIGKILLed
                    and restarted each time (the group rebalances twice);
``corrupt-state``   a worker SIGKILLed, every file of its state directory
                    overwritten with junk, and restarted: state is rebuilt
                    from the topics.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..harness import (
    DecisionTally,
    WorkerProcess,
    compressed_time_settings,
    describe_difference,
    replay_final,
    same_time_ties,
)
from ..kafka.local import LocalKafka
from ..kafka.produce import ProduceStats, load
from ..kafka.topics import Topics, delete_topics_containing, ensure_topics
from ..sim import simulate

__all__ = ["SCENARIOS", "Outcome", "run_scenario"]


@dataclass
class Outcome:
    """One scenario's row of the chaos table."""

    scenario: str
    orders: int
    faults: int
    lost: int
    conflicting: int
    drift: int
    recovery: float | None  # seconds, the longest over the faults
    seconds: float
    ties: int = 0  # drifting orders explained by same-time ties
    notes: list[str] = field(default_factory=list)
    logs: str = ""
    differences: list[dict] = field(default_factory=list)  # a few conflicting and drifting orders, live beside replay

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.conflicting == 0 and self.drift == 0


class Stage:
    """What a fault acts on: the broker, the workers, the decisions read so far."""

    def __init__(self, broker: LocalKafka | None, workers: list[WorkerProcess], tally: DecisionTally,
                 rng: random.Random, say: Callable[[str], None], outage: tuple[float, float]):
        self.broker, self.workers, self.tally, self.rng, self.say = broker, workers, tally, rng, say
        self.outage = outage  # seconds a killed broker stays down (drawn between the two)


def _kill_worker(stage: Stage) -> float:
    worker = stage.workers[0]
    worker.kill()
    worker.start()
    return time.monotonic()


def _kill_member(stage: Stage) -> float:
    worker = stage.rng.choice(stage.workers)
    worker.kill()
    worker.start()
    return time.monotonic()


def _bounce_broker(stage: Stage) -> float:
    assert stage.broker is not None, "broker-bounce needs a broker this run may kill"
    stage.broker.kill()
    down = stage.rng.uniform(*stage.outage)
    stage.say(f"broker SIGKILLed; starting it again in {down:.1f} s")
    time.sleep(down)
    stage.broker.up(timeout=120)
    return time.monotonic()


def _corrupt_state(stage: Stage) -> float:
    worker = stage.workers[0]
    worker.kill()
    state = worker.data_dir / "state"
    junk = 0
    for root, _, files in os.walk(state):
        for name in files:  # every file overwritten with random bytes
            path = Path(root) / name
            path.write_bytes(os.urandom(min(max(64, path.stat().st_size), 1 << 20)))
            junk += 1
        for name in ("CURRENT", "MANIFEST-000001", "000003.log", "LOCK"):  # a store's files, all junk
            (Path(root) / name).write_bytes(os.urandom(4096))
            junk += 1
    stage.say(f"corrupted {state}: {junk} files of random bytes")
    worker.start()
    return time.monotonic()


#: scenario -> (fault, workers, partitions)
SCENARIOS: dict[str, tuple[Callable[[Stage], float], int, int]] = {
    "worker-kill": (_kill_worker, 1, 4),
    "broker-bounce": (_bounce_broker, 1, 4),
    "rebalance": (_kill_member, 2, 6),
    "corrupt-state": (_corrupt_state, 1, 4),
}


def _publish(bootstrap: str, topic: str, events: list[dict], rate: float, work_dir: Path,
             say: Callable[[str], None], stats: ProduceStats) -> None:
    """The day's orders through the producer helper (``riskstream produce``), which retries."""
    path = work_dir / "orders.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    with open(path, "rb") as stream:
        asyncio.run(load(stream, bootstrap, topic, rate, False, stats, lambda _: None,
                         say=lambda message: say(f"producer: {message}")))


def run_scenario(name: str, bootstrap: str, *, orders: int, faults: int, broker: LocalKafka | None = None,
                 seed: int = 0, rules: str = "rules", work_dir: Path = Path("var/chaos"), rate: float = 1000.0,
                 timeout: float = 900.0, say: Callable[[str], None] = lambda message: None,
                 outage: tuple[float, float] = (1.0, 3.0), spacing: float = 15.0) -> Outcome:
    """Run one scenario of :data:`SCENARIOS` and count what it cost.

    ``outage``: how long a killed broker stays down; past the producer's request timeout
    (10 s) its batches fail and are retried.  ``rate`` is lowered so that publishing lasts
    ``spacing`` seconds per fault: every fault lands while orders flow."""
    fault, members, partitions = SCENARIOS[name]
    rate = min(rate, orders / (faults * spacing))
    rng = random.Random(seed)
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=partitions)
    ensure_topics(bootstrap, topics)
    work = work_dir / f"{name}-{suffix}"
    work.mkdir(parents=True, exist_ok=True)
    events = list(simulate(orders, seed=seed))
    settings = compressed_time_settings()
    workers = []
    for n in range(members):
        (work / f"w{n}").mkdir()
        workers.append(WorkerProcess(bootstrap, topics, f"rs-chaos-{suffix}", work / f"w{n}", rules, settings))
    stats = ProduceStats()
    publisher = threading.Thread(target=_publish, args=(bootstrap, topics.orders, events, rate, work, say, stats),
                                 daemon=True)
    tally = DecisionTally(bootstrap, topics.decisions)
    stage = Stage(broker, workers, tally, rng, say, outage)
    started = time.monotonic()
    recoveries: list[float] = []
    done_faults = 0
    notes: list[str] = []
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        publisher.start()
        # Fault moments spread over the run: after a random share of each of ``faults``
        # equal slices of the orders, never before the last fault's recovery showed.
        slice_size = orders / (faults + 1)
        targets = [int(slice_size * (n + rng.uniform(0.3, 1.0))) for n in range(faults)]
        while done_faults < faults and time.monotonic() - started < timeout:
            while tally.poll() < targets[done_faults] and time.monotonic() - started < timeout:
                time.sleep(0.1)
            if len(tally.records) >= orders:
                break  # finished before every fault could land
            time.sleep(rng.uniform(0.0, 1.0))
            before = tally.poll()
            back = fault(stage)
            done_faults += 1
            recovered = _next_decision(tally, before, back, orders, limit=120.0)
            if recovered is not None:
                recoveries.append(recovered)
                say(f"{name}: fault {done_faults}/{faults} at {before} decided; decisions again after "
                    f"{recovered:.1f} s")
            else:
                notes.append(f"fault {done_faults}: no decision within 120 s of the recovery")
        tally.settle(orders, deadline=started + timeout)
        seconds = time.monotonic() - started
        say(f"{name}: {len(tally.records)} of {orders} orders decided after {seconds:.0f} s")
    finally:
        for worker in workers:
            worker.stop()
        tally.close()
        if publisher.ident is not None:
            publisher.join(timeout=300)
        delete_topics_containing(bootstrap, suffix)
    if stats.retried:
        notes.append(f"the producer sent {stats.retried} batches again")
    if stats.failed:
        notes.append(f"the producer gave up on {stats.failed} orders: {stats.error}")
    replayed = replay_final(rules, events)
    lost, conflicting, drift, ties = _count(tally.records, replayed, events)
    return Outcome(name, orders, done_faults, lost, len(conflicting), len(drift), max(recoveries, default=None),
                   round(seconds, 1), ties=ties, notes=notes, logs=str(work),
                   differences=[describe_difference(tally.records[o], replayed[o])
                                for o in (conflicting[:5] + drift[:5]) if o in replayed])


def _next_decision(tally: DecisionTally, before: int, back: float, orders: int, limit: float) -> float | None:
    """Seconds from ``back`` until more than ``before`` orders are decided (0 when they all are)."""
    while time.monotonic() - back < limit:
        if tally.poll() > before or len(tally.records) >= orders:
            return time.monotonic() - back
        time.sleep(0.05)
    return None


def _count(records: dict[str, list[dict]], replayed: dict,
           events: list[dict]) -> tuple[int, list[str], list[str], int]:
    offline = {order: decision.action.label for order, decision in replayed.items()}
    lost = sum(1 for order in offline if order not in records)
    conflicting: list[str] = []
    drift: list[str] = []
    for order, found in records.items():
        by_revision: dict[int, set[str]] = {}
        for r in found:
            by_revision.setdefault(r["revision"], set()).add(
                (r["action"], tuple(sorted(x["rule"] for x in r["reasons"]))))
        if any(len(contents) > 1 for contents in by_revision.values()):
            conflicting.append(order)
        if max(found, key=lambda r: r["revision"])["action"] != offline.get(order):
            drift.append(order)
    ties = [o for o in drift if same_time_ties(o, events)]
    return lost, conflicting, [o for o in drift if o not in set(ties)], len(ties)
