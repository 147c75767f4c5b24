"""Interop with kcat (librdkafka): orders published by kcat are decided, decisions read back by kcat."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import orjson
import pytest

from riskstream.harness import (
    WorkerProcess,
    compressed_time_settings,
    replay_final,
    same_time_ties,
)
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.sim import simulate

ORDERS = 1500


def kcat(*args: str, stdin: bytes | None = None) -> bytes:
    binary = shutil.which("kcat")
    if binary is None:
        pytest.fail("kcat is not installed: `make test` installs it (apt-get install kcat)", pytrace=False)
    done = subprocess.run([binary, *args], input=stdin, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def test_orders_from_kcat_are_decided_and_read_back_with_kcat(kafka_bootstrap, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=4)
    ensure_topics(kafka_bootstrap, topics)
    events = list(simulate(ORDERS, seed=31))
    clean = [{k: v for k, v in e.items() if k not in ("label", "scenario")} for e in events]
    lines = b"".join(e["account_id"].encode() + b"\t" + orjson.dumps(e) + b"\n" for e in clean)
    worker = WorkerProcess(kafka_bootstrap, topics, f"rs-kcat-{suffix}", tmp_path, "rules", compressed_time_settings())
    decided: dict[str, list[dict]] = {}
    try:
        worker.start()
        worker.wait_ready()
        # Keyed by account id, placed by murmur2 like the Java and kafka-python clients.
        kcat("-P", "-b", kafka_bootstrap, "-t", topics.orders, "-K", "\t", "-X", "topic.partitioner=murmur2_random",
             stdin=lines)
        deadline = time.monotonic() + 180
        while len(decided) < ORDERS and time.monotonic() < deadline:
            time.sleep(2)
            out = kcat("-C", "-b", kafka_bootstrap, "-t", topics.decisions, "-o", "beginning", "-e", "-q",
                       "-f", "%k\t%s\n")
            decided = {}
            for line in out.splitlines():
                key, _, value = line.partition(b"\t")
                record = orjson.loads(value)
                assert record["order_id"] == key.decode()
                decided.setdefault(key.decode(), []).append(record)
    finally:
        worker.stop()
    assert sorted(decided) == sorted(e["order_id"] for e in events)
    offline = {o: d.action.label for o, d in replay_final("rules", clean).items()}
    final = {o: max(rs, key=lambda r: r["revision"])["action"] for o, rs in decided.items()}
    differ = [o for o, a in offline.items() if final[o] != a]
    assert [o for o in differ if not same_time_ties(o, events)] == []  # see same_time_ties
    assert len(differ) <= ORDERS * 0.001
    assert any(a != "allow" for a in final.values())
