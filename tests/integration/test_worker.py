"""A real worker process on the real broker: decisions, the review queue, dead letters."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest

from riskstream.harness import compressed_time_settings, read_records, replay_final, same_time_ties
from riskstream.kafka.pipeline import OrderPublisher
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.sim import simulate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 3000
BAD = [b"", b"{not json", b'{"order_id": 7, "event_time": "x"}', b'{"order_id": "b1", "account_id": "a", "event_time": "2026-11-11T20:00:00+08:00", "items": []}']


def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 120.0) -> list:
    return read_records(bootstrap, topic, expected, timeout)


@pytest.fixture(scope="module")
def run(kafka_bootstrap, tmp_path_factory):
    """One worker deciding a simulated flash sale plus a few bad events."""
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=4)
    ensure_topics(kafka_bootstrap, topics)
    env = os.environ | {
        "RISKSTREAM_TOPIC_ORDERS": topics.orders, "RISKSTREAM_TOPIC_DECISIONS": topics.decisions,
        "RISKSTREAM_TOPIC_REVIEW": topics.review, "RISKSTREAM_TOPIC_DLQ": topics.dlq,
        "RISKSTREAM_TOPIC_VERDICTS": topics.verdicts, "RISKSTREAM_PARTITIONS": "4",
    } | compressed_time_settings()
    web_port = free_port()
    data_dir = tmp_path_factory.mktemp("worker")
    log = open(data_dir / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "riskstream.cli", "worker", "--bootstrap", kafka_bootstrap, "--web-port", str(web_port),
         "--data-dir", str(data_dir / "state"), "--app-id", f"rs-{suffix}", "--rules", str(ROOT / "rules")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    events = list(simulate(ORDERS, seed=8))
    try:
        with OrderPublisher(kafka_bootstrap, topic=topics.orders) as publisher:
            for event in events:
                publisher.publish(event)
            for raw in BAD:
                publisher.publish_raw(raw, key=b"bad")
        decisions = read_all(kafka_bootstrap, topics.decisions, ORDERS)
        review = read_all(kafka_bootstrap, topics.review, 1, timeout=10)
        dead = read_all(kafka_bootstrap, topics.dlq, len(BAD), timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=10) as reply:
            metrics = reply.read().decode()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
    if len(decisions) < ORDERS:
        pytest.fail("worker log:\n" + (data_dir / "worker.log").read_text(errors="replace")[-3000:])
    return events, decisions, review, dead, metrics


def final(decisions) -> dict[str, dict]:
    """The last revision per order; revisions count up from 1 and only escalate."""
    by_order: dict[str, list[dict]] = {}
    for record in decisions:
        by_order.setdefault(record.key.decode(), []).append(orjson.loads(record.value))
    rank = ["allow", "challenge", "review", "hold", "freeze"]
    for records in by_order.values():
        records.sort(key=lambda r: r["revision"])
        assert [r["revision"] for r in records] == list(range(1, len(records) + 1))
        assert [rank.index(r["action"]) for r in records] == sorted(rank.index(r["action"]) for r in records)
    return {order: records[-1] for order, records in by_order.items()}


def test_every_order_gets_a_decision(run):
    events, decisions, _, _, _ = run
    decided = final(decisions)
    assert sorted(decided) == sorted(e["order_id"] for e in events)
    record = orjson.loads(decisions[0].value)
    assert record["schema"] == "riskstream.decision/v1" and record["order_id"] == decisions[0].key.decode()


def test_flagged_decisions_reach_the_review_queue(run):
    _, decisions, review, _, _ = run
    flagged = {r.key for r in decisions if orjson.loads(r.value)["action"] != "allow"}
    assert flagged and {r.key for r in review} == flagged


def test_bad_events_reach_the_dead_letter_topic_with_their_reason(run):
    _, _, _, dead, _ = run
    assert sorted(r.value for r in dead) == sorted(BAD)
    headers = {r.value: dict(r.headers) for r in dead}
    assert headers[b""][ "reason"] == b"empty event"
    assert headers[b"{not json"]["reason"].startswith(b"not valid JSON")
    assert headers[BAD[2]]["field"] == b"order_id"
    assert headers[BAD[3]]["field"] == b"items"
    assert all(h["source_partition"].isdigit() and h["source_offset"].isdigit() for h in headers.values())


def test_live_decisions_agree_with_replay(run):
    events, decisions, _, _, _ = run
    offline = {o: d.action.label for o, d in replay_final(str(ROOT / "rules"), events).items()}
    live = {order: record["action"] for order, record in final(decisions).items()}
    differ = [o for o, a in offline.items() if live[o] != a]
    print(f"live/replay agreement: {1 - len(differ) / len(offline):.4%} ({len(differ)} differ: {differ[:5]})")
    # The one known cause: orders of one key with the same event time (see same_time_ties).
    assert [o for o in differ if not same_time_ties(o, events)] == []
    assert len(differ) <= len(offline) * 0.001


def test_metrics_show_the_graph_stage_drained(run):
    """Once every order is decided, no order's links wait in the graph stage."""
    *_, metrics = run
    waiting = [line for line in metrics.splitlines() if line.startswith("riskstream_graph_waiting_orders ")]
    assert waiting and float(waiting[0].split()[1]) == 0.0
    decided = [line for line in metrics.splitlines() if line.startswith("riskstream_decisions_total")]
    assert decided, metrics[:2000]
