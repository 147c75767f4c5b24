"""The console part of ``riskstream demo --console`` (``make console-demo``) on the real broker: the sale's
records fill a case store, the printed user and password log in, the queue shows the ring first, a freeze
goes onto the run's verdicts topic, and stopping it closes everything."""

from __future__ import annotations

import re
import socket
import threading
import uuid

import httpx2 as httpx
import orjson
from kafka import KafkaConsumer, KafkaProducer

from riskstream.decisions import Outcome
from riskstream.demo import serve_console
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.verdicts import parse_verdict


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_demo_console_serves_the_sale_and_publishes_a_freeze(kafka_bootstrap, replayed, tmp_path):
    _, decisions = replayed
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"demo-orders-{suffix}", decisions=f"demo-decisions-{suffix}",
                    review=f"demo-review-{suffix}", dlq=f"demo-dlq-{suffix}", verdicts=f"demo-verdicts-{suffix}",
                    partitions=2, verdicts_partitions=1)
    ensure_topics(kafka_bootstrap, topics)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    for record in decisions:
        key, value = record["order_id"].encode(), orjson.dumps(record)
        producer.send(topics.decisions, key=key, value=value)
        if Outcome.parse(record["action"]).flagged:
            producer.send(topics.review, key=key, value=value)
    producer.flush()
    producer.close()

    said: list[str] = []
    seen: dict = {}

    def ready(url, user, password, stop):
        seen.update(url=url, user=user, password=password)
        try:
            with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
                token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
                logged = client.post("/login", data={"username": user, "password": password, "csrf": token})
                seen["login"] = logged.status_code
                ring = client.get("/api/queue", params={"min_size": "3"}).json()["cases"][0]
                page = client.get(f"/cases/{ring['id']}").text
                form = {"csrf": re.search(r'name="csrf" value="([^"]+)"', page).group(1), "action": "freeze",
                        "case_revision": re.search(r'name="case_revision" value="(\d+)"', page).group(1),
                        "confirm_count": re.search(r'id="verdict-freeze" data-accounts="(\d+)"', page).group(1)}
                seen["verdict"] = client.post(f"/cases/{ring['id']}/verdict", data=form).status_code
                seen["ring"] = ring["id"]
                seen["metrics"] = client.get("/metrics").text
        finally:
            stop()

    port = _free_port()
    server = threading.Thread(target=serve_console, args=(kafka_bootstrap, topics, tmp_path, port, said.append),
                              kwargs={"group": f"demo-cases-{suffix}", "ready": ready})
    server.start()
    server.join(timeout=180)
    assert not server.is_alive(), "the console did not stop"
    text = "\n".join(said)
    assert f"reviewers' console: http://127.0.0.1:{port}/   user demo   password {seen['password']}" in text
    assert seen["login"] == 303 and seen["verdict"] == 303
    assert "riskstream_console_verdicts_total{action=\"freeze\"} 1.0" in seen["metrics"]
    assert (tmp_path / "cases.db").exists()

    consumer = KafkaConsumer(topics.verdicts, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10_000)
    try:
        verdicts = [parse_verdict(orjson.loads(r.value)) for r in consumer]
    finally:
        consumer.close()
    assert len(verdicts) == 1 and verdicts[0].action.value == "freeze" and verdicts[0].reviewer == "demo"
    assert verdicts[0].case_id == seen["ring"] and len(verdicts[0].accounts) >= 3
