"""``riskstream cases ingest`` against the real broker: review and decision records into a SQLite case store."""

from __future__ import annotations

import uuid

import orjson
from click.testing import CliRunner
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import func, select

from riskstream.cli import main
from riskstream.console.models import Case, Order, Revision
from riskstream.console.store import CaseStore
from riskstream.decisions import Outcome
from riskstream.kafka.topics import Topics, ensure_topics


def test_cases_ingest_follows_review_and_decisions_and_dead_letters_bad_records(kafka_bootstrap, replayed, tmp_path,
                                                                                 monkeypatch, case_oracle):
    expected_cases, stored_cases = case_oracle
    _, decisions = replayed
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=2, verdicts_partitions=1)
    ensure_topics(kafka_bootstrap, topics)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    for record in decisions:  # as the workers publish: every decision, and the flagged ones on review too
        key, value = record["order_id"].encode(), orjson.dumps(record)
        producer.send(topics.decisions, key=key, value=value)
        if Outcome.parse(record["action"]).flagged:
            producer.send(topics.review, key=key, value=value)
    producer.send(topics.review, key=b"o-bad", value=b'{"schema": "riskstream.decision/v1", "order_id": 7}')
    producer.flush()
    producer.close()

    for name, value in (("RISKSTREAM_TOPIC_DECISIONS", topics.decisions), ("RISKSTREAM_TOPIC_REVIEW", topics.review),
                        ("RISKSTREAM_TOPIC_DLQ", topics.dlq)):
        monkeypatch.setenv(name, value)
    store_path = tmp_path / "cases.db"
    args = ["cases", "ingest", "-s", str(store_path), "-b", kafka_bootstrap, "--group", f"cases-{suffix}",
            "--idle-exit", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "1 refused (dead-lettered)" in result.output
    with CaseStore.open(store_path) as store:
        assert stored_cases(store) == expected_cases(decisions)
        with store.session() as session:
            revisions = session.scalar(select(func.count()).select_from(Revision))
            rings = session.scalar(select(func.count()).select_from(Case).where(Case.size > 2))
            orders = session.scalar(select(func.count()).select_from(Order))
    assert rings >= 1 and orders > 0 and revisions >= orders

    again = CliRunner().invoke(main, args)  # the group's offsets were committed: nothing new
    assert again.exit_code == 0 and "read 0 records" in again.output

    dead = KafkaConsumer(topics.dlq, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        (record,) = [next(iter(dead))]
    finally:
        dead.close()
    headers = dict(record.headers)
    assert headers["field"] == b"order_id" and headers["source_topic"] == topics.review.encode()
    assert b"non-empty string" in headers["reason"]
