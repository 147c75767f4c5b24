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

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError

from ..engine import DecisionEngine
from ..pipeline import OrderPublisher
from ..rules import load_ruleset
from ..simulate import simulate
from ..topics import Topics, delete_topics_containing, ensure_topics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WorkerProcess:
    """A ``riskstream worker`` subprocess on its own topics and consumer group."""

    def __init__(self, bootstrap: str, topics: Topics, app_id: str, data_dir: Path, rules: str,
                 settings: dict[str, str] | None = None):
        self.bootstrap, self.topics, self.app_id = bootstrap, topics, app_id
        self.data_dir, self.rules = data_dir, rules
        self.settings = settings or {}  # extra RISKSTREAM_* environment
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def env(self) -> dict[str, str]:
        t = self.topics
        return os.environ | {
            "RISKSTREAM_TOPIC_ORDERS": t.orders, "RISKSTREAM_TOPIC_DECISIONS": t.decisions,
            "RISKSTREAM_TOPIC_REVIEW": t.review, "RISKSTREAM_TOPIC_DLQ": t.dlq,
            "RISKSTREAM_TOPIC_VERDICTS": t.verdicts, "RISKSTREAM_PARTITIONS": str(t.partitions),
        } | self.settings

    def start(self) -> None:
        self.starts += 1
        self.web_port = free_port()
        log = open(self.data_dir / f"worker-{self.starts}.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "riskstream.cli", "worker", "--bootstrap", self.bootstrap,
             "--web-port", str(self.web_port), "--data-dir", str(self.data_dir / "state"),
             "--app-id", self.app_id, "--rules", self.rules, "--log-level", os.environ.get("RISKSTREAM_TEST_LOG_LEVEL", "warning")],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until the worker's /health answers 200 (its agents run) and its
        consumer group is stable (partitions assigned), so it consumes at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health", timeout=2) as reply:
                    if reply.status == 200 and self._group_stable():
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"worker not ready after {timeout:.0f} s (logs in {self.data_dir})")

    def _group_stable(self) -> bool:
        return group_stable(self.bootstrap, self.app_id)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def group_stable(bootstrap: str, group_id: str) -> bool:
    """Is consumer group ``group_id`` stable with members (partitions assigned)?"""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (group,) = admin.describe_consumer_groups([group_id])
    except KafkaError:  # e.g. no group coordinator yet on a fresh broker
        return False
    finally:
        admin.close()
    return group.state == "Stable" and bool(group.members)


class DecisionTally:
    """Every decision record read so far, per order."""

    def __init__(self, bootstrap: str, topic: str):
        self.consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                      enable_auto_commit=False)
        self.records: dict[str, list[dict]] = {}

    def poll(self) -> int:
        """Read what has arrived (bounded wait); the number of orders decided so far."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            batches = self.consumer.poll(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    self.records.setdefault(record.key.decode(), []).append(orjson.loads(record.value))
            if not batches:
                break
        return len(self.records)

    def close(self) -> None:
        self.consumer.close()


def first_records(bootstrap: str, topic: str, want: int, key_of, progress=None, idle: float = 20.0) -> dict[str, tuple[int, dict]]:
    """The first record per ``key_of(value)``: (Kafka timestamp in ms, decoded value)."""
    found = first_and_final(bootstrap, topic, want, progress, idle, settle=0.0, key_of=key_of)
    return {key: (ts, first) for key, (ts, first, _) in found.items()}


def first_and_final(bootstrap: str, topic: str, want: int, progress=None, idle: float = 20.0,
                    settle: float = 2.0, key_of=lambda value: value["order_id"]) -> dict[str, tuple[int, dict, dict]]:
    """Records per ``key_of(value)`` (decisions: per order id): (Kafka timestamp of the first,
    the first, the final one: the highest ``revision``).  Reads until ``want`` keys have a
    record, then until nothing new came for ``settle`` seconds, so escalations published
    after the last first decision count; gives up after ``idle`` seconds without a record."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=200)
    found: dict[str, tuple[int, dict, dict]] = {}
    last_change = time.monotonic()
    try:
        while time.monotonic() - last_change < (settle if len(found) >= want else idle):
            records = 0
            for record in consumer:
                records += 1
                value = orjson.loads(record.value)
                key = key_of(value)
                known = found.get(key)
                if known is None:
                    found[key] = (record.timestamp, value, value)
                elif value.get("revision", 1) > known[2].get("revision", 1):
                    found[key] = (known[0], known[1], value)
            if records:
                last_change = time.monotonic()
                if progress:
                    progress(min(len(found), want))
    finally:
        consumer.close()
    return found


def publish_paced(bootstrap: str, topic: str, events: list[dict], rate: float) -> None:
    """Publish ``events`` at about ``rate`` orders/s (0: as fast as possible), like live traffic.

    The pace is kept every 2 ms of traffic, not in larger bursts: a burst is
    a gap on every partition, and the graph stage, which applies links in
    event-time order across partitions, holds an order until each partition
    has passed it, so bursts every quarter second showed up as a quarter
    second of latency that smooth traffic does not have."""
    step = max(1, int(rate / 500)) if rate else 1
    with OrderPublisher(bootstrap, topic=topic) as publisher:
        started = time.monotonic()
        for n, event in enumerate(events):
            if rate and n % step == 0:
                ahead = started + n / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            publisher.publish(event, validate=False)


def compressed_time_settings() -> dict[str, str]:
    """Worker settings for simulated traffic published faster than it happened.

    The simulator's day reaches the broker in seconds, so one second of skew
    between partitions is hours of event time - far beyond the production
    grace (300 s of event time, which is 300 s of real skew).  Orders later
    than the grace are still counted but no longer see exact windows, and
    their decisions may differ from replay's.  Two days of grace keep every
    window exact for a compressed day.
    """
    return {"RISKSTREAM_LATE_GRACE_SECONDS": str(2 * 86400)}


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
        idle_since = time.monotonic()
        last = tally.poll()
        while time.monotonic() - idle_since < 60 and time.monotonic() - started < timeout:
            time.sleep(0.5)
            now = tally.poll()
            if now != last:
                last, idle_since = now, time.monotonic()
            elif now >= orders and time.monotonic() - idle_since > 5:
                break
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
        "differences": [_difference(tally.records[o], replayed[o]) for o in differ[:5]],
        "unexplained": [o for o in differ if not same_time_ties(o, events)],
        "logs": str(work_dir),
    }


def replay_final(rules: str, events: list[dict]) -> dict[str, Any]:
    """Replay's final decision (its last revision) per order id: what workers must match."""
    from ..replay import ReplayReport, decide_records

    engine = DecisionEngine(load_ruleset(rules))
    records = ((str(n), event) for n, event in enumerate(events))
    return {decision.order_id: decision for _, decision in decide_records(engine, records, ReplayReport())}  # later revisions last


def _difference(records: list[dict], replayed: Any) -> dict[str, Any]:
    """What the worker published for an order beside what replay decided, to explain a difference."""
    return {
        "order_id": replayed.order_id,
        "live": [{"revision": r["revision"], "action": r["action"],
                  "rules": {x["rule"]: x.get("value") for x in r["reasons"]}} for r in records],
        "replay": {"action": replayed.action.label, "rules": {x.rule: x.value for x in replayed.reasons}},
    }


_TIE_FIELDS = ("account_id", "ip", "device_id", "phone", "payment_fingerprint", "shipping_address")


def same_time_ties(order_id: str, events: list[dict]) -> list[str]:
    """Orders with exactly the event time of ``order_id`` that share an entity with it.

    Such ties are the one known cause of a live decision differing from
    replay's: replay counts tied orders in file order, a worker in the order
    their touches reach the key's partition, which no single order of the file
    fixes when the tied orders come from different account partitions.
    """
    from ..engine.order_view import EntityKeys

    by_id = {e["order_id"]: e for e in events}
    order = by_id[order_id]
    keys = EntityKeys(b"ties")
    kinds = {"ip": "ip_prefix", "phone": "phone", "shipping_address": "address"}

    def entities(event: dict) -> set[tuple[str, object]]:
        out = set()
        for name in _TIE_FIELDS:
            value = event.get(name)
            if value is not None:
                kind = kinds.get(name)
                out.add((name, keys.key(kind, value) if kind else value))
        return out

    def instant(event: dict) -> float:
        return datetime.fromisoformat(event["event_time"]).timestamp()

    mine, when = entities(order), instant(order)
    return [e["order_id"] for e in events
            if e["order_id"] != order_id and instant(e) == when and entities(e) & mine]
