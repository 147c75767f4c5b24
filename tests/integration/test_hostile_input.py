"""Hostile input against a real worker on the real broker: every bad event reaches the
dead-letter topic with its reason, a key flood stays under the window cap (evictions on
/metrics), and the worker keeps deciding every good order."""

from __future__ import annotations

import time
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest

from riskstream.events import MAX_EVENT_BYTES, REUSED_ID
from riskstream.harness import DecisionTally, WorkerProcess, compressed_time_settings, read_records
from riskstream.kafka.pipeline import OrderPublisher
from riskstream.kafka.topics import Topics, delete_topics_containing, ensure_topics
from riskstream.sim import simulate
from riskstream.stream.stages import MAX_DEAD_BYTES
from riskstream.testing import make_order

ROOT = Path(__file__).resolve().parents[2]
NORMAL = 400
FLOOD = 3000
CAP = 300


def hostile(events: list[dict]) -> dict[str, tuple[bytes, str]]:
    """Name -> (raw event, words its dead letter's reason holds)."""
    good = orjson.dumps(events[5])
    ahead = make_order(event_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400)))
    return {
        "reused, same account": (orjson.dumps({**events[1], "items": [{"sku": "SKU-X", "quantity": 50,
                                                                      "unit_price": 1.0}]}), REUSED_ID),
        "reused, other account": (orjson.dumps({**events[2], "account_id": "intruder-1"}), REUSED_ID),
        "nested 10,000 deep": (b'{"order_id":' + b"[" * 10_000 + b"]" * 10_000 + b"}", "depth limit"),
        "NaN": (good[:-1] + b',"amount":NaN}', "not valid JSON"),
        "Infinity": (good[:-1] + b',"amount":1e999}', "infinity"),
        "year 9999": (orjson.dumps(make_order(event_time="9999-12-31T23:59:59Z")), "outside 2000-01-01"),
        "year 1900": (orjson.dumps(make_order(event_time="1900-01-01T00:00:00Z")), "outside 2000-01-01"),
        "ahead of the clock": (orjson.dumps(ahead), "ahead of the clock"),
        "wrong type": (orjson.dumps(make_order(items={"sku": "a"})), "expected a list"),
        "1 MB": (orjson.dumps(make_order(user_agent="u" * (MAX_EVENT_BYTES + 40_000))), "exceeds the limit"),
    }


@pytest.fixture(scope="module")
def run(kafka_bootstrap, tmp_path_factory):
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=4)
    ensure_topics(kafka_bootstrap, topics)
    work = tmp_path_factory.mktemp("hostile")
    settings = compressed_time_settings() | {"RISKSTREAM_WINDOW_KEY_CAP": str(CAP)}
    worker = WorkerProcess(kafka_bootstrap, topics, f"rs-hostile-{suffix}", work, str(ROOT / "rules"), settings)
    events = list(simulate(NORMAL, seed=5))
    flood = [make_order(n * 0.05, ip=f"10.{n >> 8 & 255}.{n & 255}.7", device_id=f"flood-{n}") for n in range(FLOOD)]
    bad = hostile(events)
    tally = DecisionTally(kafka_bootstrap, topics.decisions)
    try:
        worker.start()
        worker.wait_ready()
        with OrderPublisher(kafka_bootstrap, topic=topics.orders, max_request_size=2 * 1024 * 1024) as publisher:
            for event in events:
                publisher.publish(event)
            publisher.flush()
            deadline = time.monotonic() + 120
            while tally.poll() < NORMAL and time.monotonic() < deadline and worker.process.poll() is None:
                pass  # the originals are decided before anything reuses their ids
            publisher.publish(events[0])  # the same order again: applied once, no dead letter
            for raw, _ in bad.values():
                publisher.publish_raw(raw, key=b"hostile")
            publisher.publish_raw(bad["reused, other account"][0], key=b"intruder-1")
            for order in flood:
                publisher.publish(order)
        deadline = time.monotonic() + 180
        while tally.poll() < NORMAL + FLOOD and time.monotonic() < deadline and worker.process.poll() is None:
            pass
        dead = read_records(kafka_bootstrap, topics.dlq, len(bad) + 1, timeout=60, settle=3.0)
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as reply:
            metrics = reply.read().decode()
        alive = worker.process.poll() is None
    finally:
        worker.stop()
        tally.close()
        delete_topics_containing(kafka_bootstrap, suffix)
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in work.glob("worker-*.log"))
    return events, flood, bad, tally.records, dead, metrics, alive, logs


def test_the_worker_survives_and_decides_every_good_order(run):
    events, flood, _, records, _, _, alive, logs = run
    assert alive, logs
    wanted = {e["order_id"] for e in events} | {o["order_id"] for o in flood}
    assert set(records) == wanted, logs
    assert len(records[events[0]["order_id"]]) == 1  # the repeat was applied once
    assert all(r["account_id"] != "intruder-1" for rs in records.values() for r in rs)


def test_each_hostile_event_reaches_the_dead_letter_topic_with_its_reason(run):
    _, _, bad, _, dead, _, _, _ = run
    reasons = [dict(r.headers)["reason"].decode() for r in dead]
    for name, (raw, words) in bad.items():
        found = [r for r in dead if r.value == raw[:MAX_DEAD_BYTES]]
        assert found, f"{name}: no dead letter among {reasons}"
        assert words.lower() in dict(found[0].headers)["reason"].decode().lower(), name
    big = next(r for r in dead if len(r.value) == MAX_DEAD_BYTES)
    assert int(dict(big.headers)["original_size"]) == len(bad["1 MB"][0])
    # the cross-account reuse twice (two keys): each copy after the first is refused again
    assert len(dead) == len(bad) + 1


def test_the_key_flood_stays_under_the_cap_with_evictions_on_metrics(run):
    *_, metrics, _, _ = run
    evicted = {line.split("{")[1].split("}")[0]: float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith("riskstream_state_evictions_total{")}
    assert evicted, metrics[:2000]
    assert sum(v for k, v in evicted.items() if "device" in k) >= FLOOD - 4 * CAP
