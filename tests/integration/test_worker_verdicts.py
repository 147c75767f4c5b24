"""Verdicts on a real worker: a freeze revises the orders it names within a second or two, later
orders of the account are frozen by the worker, the lists survive a SIGKILL, live equals replay."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer

from riskstream.harness import WorkerProcess, compressed_time_settings, publish_paced, replay_final, same_time_ties
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.kafka.verdicts import VerdictPublisher
from riskstream.sim import simulate
from riskstream.testing import make_order
from riskstream.verdicts import Verdict

ROOT = Path(__file__).resolve().parents[2]
RULES = str(ROOT / "rules")
ORDERS = 600
SUSPECT = "suspect-7"


class Records:
    """Every record of a topic so far, read on demand (from the beginning)."""

    def __init__(self, bootstrap: str, topic: str):
        self.consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                      enable_auto_commit=False)
        self.records: list = []

    def until(self, done, timeout: float) -> float:
        """Read until ``done(records)``; the seconds it took.  Fails the test after ``timeout``."""
        started = time.monotonic()
        while not done(self.records):
            if time.monotonic() - started > timeout:
                pytest.fail(f"{len(self.records)} records on {self.consumer.subscription()} after {timeout} s")
            for batch in self.consumer.poll(timeout_ms=50).values():
                self.records.extend(batch)
        return time.monotonic() - started

    def settle(self, quiet: float) -> None:
        """Read until nothing new came for ``quiet`` seconds."""
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            for batch in self.consumer.poll(timeout_ms=100).values():
                self.records.extend(batch)
                last = time.monotonic()

    def decisions(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for record in self.records:
            out.setdefault(record.key.decode(), []).append(orjson.loads(record.value))
        return out

    def close(self) -> None:
        self.consumer.close()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")


def ts_of(event: dict) -> float:
    return datetime.fromisoformat(event["event_time"]).timestamp()


def thirds() -> list[list[dict]]:
    """Simulated orders in three parts, each with one order of the suspect account in its middle."""
    events = list(simulate(ORDERS, seed=12))
    parts = [events[:200], events[200:400], events[400:]]
    for part in parts:
        middle = ts_of(part[len(part) // 2])
        part.insert(len(part) // 2, make_order(account_id=SUSPECT, event_time=iso(middle + 0.0005)))
    return parts


def verdict_reason(decision: dict) -> dict | None:
    found = [r for r in decision["reasons"] if r["kind"] == "verdict" and r.get("outcome") == "freeze"]
    return found[0]["value"] if found else None


def test_a_freeze_verdict_reaches_the_stream(kafka_bootstrap, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=2)
    ensure_topics(kafka_bootstrap, topics)
    worker = WorkerProcess(kafka_bootstrap, topics, f"rs-{suffix}", tmp_path, RULES, compressed_time_settings())
    parts = thirds()
    decisions = Records(kafka_bootstrap, topics.decisions)
    try:
        worker.start()
        worker.wait_ready()
        publish_paced(kafka_bootstrap, topics.orders, parts[0], rate=2000)
        decisions.until(lambda r: len({x.key for x in r}) >= len(parts[0]), timeout=60)
        first = next(e for e in parts[0] if e["account_id"] == SUSPECT)
        assert decisions.decisions()[first["order_id"]][-1]["action"] != "freeze"

        # The freeze: from between the first and the second part on, and the suspect's first order by name.
        verdict = Verdict.create("freeze", "alice", accounts=[SUSPECT], orders=[first["order_id"]], case_id="c-1",
                                 event_time=iso((ts_of(parts[0][-1]) + ts_of(parts[1][0])) / 2))
        with VerdictPublisher(kafka_bootstrap, topics.verdicts) as publisher:
            sent_ms = time.time() * 1000  # (the verdict record's own timestamp is a little later)
            publisher.publish(verdict)
            publisher.publish(verdict)  # delivered twice: applied once

        def revised(records) -> bool:
            return any(verdict_reason(d) for d in decisions.decisions().get(first["order_id"], []))

        decisions.until(revised, timeout=10)
        revision = next(d for d in decisions.decisions()[first["order_id"]] if verdict_reason(d))
        arrived = next(r for r in decisions.records if r.key.decode() == first["order_id"]
                       and verdict_reason(orjson.loads(r.value)))
        latency = (arrived.timestamp - sent_ms) / 1000
        print(f"verdict to revision on risk-decisions: {latency * 1000:.0f} ms")
        assert latency < 2.0
        assert revision["action"] == "freeze" and revision["revision"] == 2
        assert verdict_reason(revision) == {"reason": "verdict by alice", "verdict_id": verdict.verdict_id,
                                            "action": "freeze", "case_id": "c-1"}

        # A bad verdict goes to the dead-letter topic with its reason.
        raw = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        raw.send(topics.verdicts, key=b"bad", value=b'{"schema": "riskstream.verdict/v1", "verdict_id": "v-bad"}')
        raw.flush()
        raw.close()
        dead = Records(kafka_bootstrap, topics.dlq)
        dead.until(lambda r: len(r) >= 1, timeout=15)
        headers = dict(dead.records[0].headers)
        assert headers["field"] == b"reviewer" and headers["reason"] == b"required field is missing"
        assert headers["source_topic"] == topics.verdicts.encode()
        dead.close()

        # The suspect's next order is frozen by the worker with the verdict's reason.
        publish_paced(kafka_bootstrap, topics.orders, parts[1], rate=2000)
        second = next(e for e in parts[1] if e["account_id"] == SUSPECT)
        decisions.until(lambda r: len({x.key for x in r}) >= len(parts[0]) + len(parts[1]), timeout=60)
        frozen = decisions.decisions()[second["order_id"]][0]  # its first decision (a rebalance may publish it again)
        assert frozen["action"] == "freeze" and verdict_reason(frozen)["reason"] == "verdict by alice"

        # Killed and started again, the worker still knows the verdict.
        worker.kill()
        worker.start()
        worker.wait_ready()
        publish_paced(kafka_bootstrap, topics.orders, parts[2], rate=2000)
        third = next(e for e in parts[2] if e["account_id"] == SUSPECT)
        everything = sum(len(p) for p in parts)
        decisions.until(lambda r: len({x.key for x in r}) >= everything, timeout=90)
        decisions.settle(2.0)  # escalations and revisions published again after the restart
        assert verdict_reason(decisions.decisions()[third["order_id"]][-1])["reason"] == "verdict by alice"
    except BaseException:
        for log in sorted(tmp_path.glob("worker-*.log")):
            print(f"--- {log.name}:\n" + log.read_text(errors="replace")[-3000:])
        raise
    finally:
        worker.stop()
        decisions.close()

    # Live decisions equal replay's with the same verdict file.
    events = [e for part in parts for e in part]
    offline = {o: d.action.label for o, d in replay_final(RULES, events, [verdict]).items()}
    live = {}
    for order, records in decisions.decisions().items():
        live[order] = max(records, key=lambda r: r["revision"])["action"]
    assert sorted(live) == sorted(offline)
    differ = [o for o in offline if live[o] != offline[o]]
    assert [o for o in differ if not same_time_ties(o, events)] == []
    assert offline[first["order_id"]] == offline[second["order_id"]] == offline[third["order_id"]] == "freeze"
