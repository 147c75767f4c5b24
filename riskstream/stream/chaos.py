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
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError

from ..engine import DecisionEngine
from ..events import parse_order
from ..pipeline import OrderPublisher
from ..rules import load_ruleset
from ..simulate import simulate
from ..topics import Topics, ensure_topics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WorkerProcess:
    """A ``riskstream worker`` subprocess on its own topics and consumer group."""

    def __init__(self, bootstrap: str, topics: Topics, app_id: str, data_dir: Path, rules: str):
        self.bootstrap, self.topics, self.app_id = bootstrap, topics, app_id
        self.data_dir, self.rules = data_dir, rules
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def env(self) -> dict[str, str]:
        t = self.topics
        return os.environ | {
            "RISKSTREAM_TOPIC_ORDERS": t.orders, "RISKSTREAM_TOPIC_DECISIONS": t.decisions,
            "RISKSTREAM_TOPIC_REVIEW": t.review, "RISKSTREAM_TOPIC_DLQ": t.dlq,
            "RISKSTREAM_TOPIC_VERDICTS": t.verdicts, "RISKSTREAM_PARTITIONS": str(t.partitions),
        }

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
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            (group,) = admin.describe_consumer_groups([self.app_id])
        except KafkaError:  # e.g. no group coordinator yet on a fresh broker
            return False
        finally:
            admin.close()
        return group.state == "Stable" and bool(group.members)

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


def publish_paced(bootstrap: str, topic: str, events: list[dict], rate: float) -> None:
    """Publish ``events`` at about ``rate`` orders/s (0: as fast as possible), like live traffic."""
    with OrderPublisher(bootstrap, topic=topic) as publisher:
        started = time.monotonic()
        for n, event in enumerate(events):
            if rate and n % 50 == 0:
                ahead = started + n / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            publisher.publish(event, validate=False)


def kill_test(bootstrap: str, *, orders: int, kills: int, seed: int = 0, rules: str = "rules",
              work_dir: Path = Path("var/kill-test"), partitions: int = 4, timeout: float = 900.0,
              rate: float = 1000.0) -> dict[str, Any]:
    rng = random.Random(seed)
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=partitions)
    ensure_topics(bootstrap, topics)
    work_dir = work_dir / suffix
    work_dir.mkdir(parents=True, exist_ok=True)
    events = list(simulate(orders, seed=seed))
    publisher = threading.Thread(target=publish_paced, args=(bootstrap, topics.orders, events, rate), daemon=True)

    worker = WorkerProcess(bootstrap, topics, f"rs-kill-{suffix}", work_dir, rules)
    tally = DecisionTally(bootstrap, topics.decisions)
    started = time.monotonic()
    killed_at: list[int] = []
    try:
        worker.start()
        worker.wait_ready()
        publisher.start()
        while len(killed_at) < kills and time.monotonic() - started < timeout:
            before = tally.poll()
            while tally.poll() <= before and time.monotonic() - started < timeout:
                time.sleep(0.1)  # wait for the (re)started worker to make progress
            time.sleep(rng.uniform(0.5, 4.0))  # then kill it at a random moment
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

    engine = DecisionEngine(load_ruleset(rules))
    offline = {e["order_id"]: engine.decide(parse_order(e)).action.label for e in events}
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
        "logs": str(work_dir),
    }
