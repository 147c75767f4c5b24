"""No raw phone, address or IP in the console's logs: hostile records through the real broker into the case
ingest, then a reviewer's whole session in the console (with a verdict the broker refuses), all logged at DEBUG."""

from __future__ import annotations

import logging
import re
import uuid

import orjson
from kafka import KafkaConsumer, KafkaProducer
from starlette.testclient import TestClient

from riskstream.console.app import ConsoleConfig, create_app
from riskstream.console.auth import add_user
from riskstream.console.consumer import CaseConsumer
from riskstream.console.store import CaseStore
from riskstream.decisions import Outcome
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.testing import make_order

PHONE, IP, ADDRESS = "13912345678", "203.0.113.77", "上海市浦东新区世纪大道88号"
PASSWORD = "correct horse battery"


def test_no_raw_phone_address_or_ip_reaches_the_console_logs(kafka_bootstrap, replayed, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    _, decisions = replayed
    flagged = [d for d in decisions if Outcome.parse(d["action"]).flagged][:400]
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=1, verdicts_partitions=1)
    ensure_topics(kafka_bootstrap, topics)
    hostile = [
        orjson.dumps(make_order(phone=PHONE, ip=IP, shipping_address=ADDRESS)),  # a raw order on the wrong topic
        orjson.dumps(dict(flagged[0], order_id=f"o-{suffix}", account_id=int(PHONE))),  # a phone as the account
        orjson.dumps(dict(flagged[0], order_id=f"o2-{suffix}", action=ADDRESS)),  # an address as the action
        orjson.dumps(dict(flagged[0], order_id=f"o3-{suffix}", schema=IP)),  # an IP as the schema
        orjson.dumps(dict(flagged[0], order_id=f"o4-{suffix}", cluster_id=[PHONE, IP])),
    ]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for value in [orjson.dumps(d) for d in flagged] + hostile:
        producer.send(topics.review, value=value)
    producer.flush()
    producer.close()
    caplog.clear()  # from here on: the console's own logs

    with CaseStore.open(tmp_path / "cases.db") as store:
        with CaseConsumer(store, kafka_bootstrap, topics, group=f"cases-{suffix}") as consumer:
            progress = consumer.run(idle_exit=2)
        assert progress.dead == len(hostile)
        with store.session() as session:
            add_user(session, "alice", PASSWORD, "reviewer")

        def refuse(verdict):
            raise ConnectionError("broker unreachable")

        client = TestClient(create_app(ConsoleConfig(store=store, secret="a-test-secret-of-enough-length",
                                                     publish=refuse)), follow_redirects=False)
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        # a wrong login with a phone, an address and an IP typed into the form, then the right one
        client.post("/login", data={"username": PHONE, "password": f"{ADDRESS} {IP}", "csrf": token})
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        assert client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf": token}).status_code == 303
        client.get("/queue", params={"rule": PHONE})
        client.get("/queue", params={"min_size": IP})
        top = client.get("/api/queue").json()["cases"][0]["id"]
        page = client.get(f"/cases/{top}?reveal=1").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        revision = re.search(r'name="case_revision" value="(\d+)"', page).group(1)
        count = re.search(r'id="verdict-release" data-accounts="(\d+)"', page).group(1)
        client.post(f"/cases/{top}/notes", data={"csrf": token, "text": f"called {PHONE}, ships to {ADDRESS}"})
        failed = client.post(f"/cases/{top}/verdict", data={"csrf": token, "action": "release", "case_revision": revision,
                                                            "confirm_count": count, "note": f"{PHONE} {IP}"})
        assert failed.status_code == 502
        client.get("/metrics")

    # every line but the test client's own (httpx logs the URLs it asks for)
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "refused (dead-lettered)" in logged and "not published" in logged  # the logs did capture both paths
    for raw in (PHONE, IP, ADDRESS):
        assert raw not in logged, f"{raw!r} is in the console's logs"

    dead = KafkaConsumer(topics.dlq, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        reasons = sorted(dict(r.headers)["field"].decode() for r in dead)
    finally:
        dead.close()
    assert reasons == ["account_id", "action", "cluster_id", "schema", "schema"]
