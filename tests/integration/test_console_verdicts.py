"""A reviewer freezes a ring in the console: the riskstream.verdict/v1 record lands on the real broker."""

from __future__ import annotations

import re
import uuid

from click.testing import CliRunner
from kafka import KafkaConsumer
from sqlalchemy import select

from riskstream.cli import main
from riskstream.console.app import ConsoleConfig, create_app
from riskstream.console.auth import add_user
from riskstream.console.ingest import CaseIngest
from riskstream.console.models import Case, Order, VerdictRow
from riskstream.console.store import CaseStore
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.kafka.verdicts import VerdictPublisher
from riskstream.verdicts import VerdictAction, parse_verdict

PASSWORD = "correct horse battery"


def test_freezing_a_ring_publishes_its_verdict_and_closes_the_case(kafka_bootstrap, replayed, tmp_path):
    from starlette.testclient import TestClient

    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=1, verdicts_partitions=1)
    ensure_topics(kafka_bootstrap, topics)
    store_path = tmp_path / "cases.db"
    store = CaseStore.open(store_path)
    CaseIngest(store).ingest(replayed[1])
    with store.session() as session:
        add_user(session, "alice", PASSWORD, "reviewer")
    publisher = VerdictPublisher(kafka_bootstrap, topics.verdicts)
    try:
        client = TestClient(create_app(ConsoleConfig(store=store, secret="s" * 32, publish=publisher.publish)),
                            follow_redirects=False)
        login = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)
        assert client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf": csrf}).status_code == 303
        ring = client.get("/api/queue", params={"min_size": "3", "outcome": "hold"}).json()["cases"][0]
        page = client.get(f"/cases/{ring['id']}").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        revision = re.search(r'name="case_revision" value="(\d+)"', page).group(1)
        with store.session() as session:
            orders = session.scalars(select(Order).where(Order.case_id == ring["id"])).all()
        accounts = list(dict.fromkeys(o.account_id for o in orders))
        done = client.post(f"/cases/{ring['id']}/verdict",
                           data={"csrf": csrf, "action": "freeze", "case_revision": revision,
                                 "confirm_count": str(len(accounts)), "note": "ring shares devices"})
        assert done.status_code == 303, done.text
        again = client.post(f"/cases/{ring['id']}/verdict",
                            data={"csrf": csrf, "action": "freeze", "case_revision": revision,
                                  "confirm_count": str(len(accounts))})
        assert again.status_code == 409  # the case moved on: no second verdict from a stale page
    finally:
        publisher.close()

    consumer = KafkaConsumer(topics.verdicts, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        records = list(consumer)
    finally:
        consumer.close()
    assert len(records) == 1
    verdict = parse_verdict(records[0].value)
    assert records[0].key.decode() == verdict.verdict_id
    assert verdict.action is VerdictAction.FREEZE and verdict.reviewer == "alice" and verdict.case_id == ring["id"]
    assert list(verdict.accounts) == accounts and set(verdict.orders) == {o.order_id for o in orders}
    assert verdict.note == "ring shares devices"
    with store.session() as session:
        case = session.get(Case, ring["id"])
        assert (case.status, case.label, case.verdict_action) == ("closed", 1, "freeze")
        assert session.get(VerdictRow, verdict.verdict_id).record == verdict.to_dict()
    store.close()
    verified = CliRunner().invoke(main, ["audit", "verify", "-s", str(store_path)])
    assert verified.exit_code == 0 and "audit chain intact" in verified.output
