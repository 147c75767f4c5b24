"""The console's ingest lag from the real broker: the case ingest's group before and after it reads."""

from __future__ import annotations

import uuid

import orjson
from kafka import KafkaProducer
from starlette.testclient import TestClient

from riskstream.console.app import ConsoleConfig, create_app
from riskstream.console.consumer import CaseConsumer
from riskstream.console.metrics import kafka_lag
from riskstream.console.store import CaseStore
from riskstream.decisions import Outcome
from riskstream.kafka.topics import Topics, ensure_topics


def test_ingest_lag_is_what_the_case_group_has_not_committed(kafka_bootstrap, replayed, tmp_path):
    _, decisions = replayed
    records = decisions[:3000]
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=2, verdicts_partitions=1)
    ensure_topics(kafka_bootstrap, topics)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    review = 0
    for record in records:
        key, value = record["order_id"].encode(), orjson.dumps(record)
        producer.send(topics.decisions, key=key, value=value)
        if Outcome.parse(record["action"]).flagged:
            producer.send(topics.review, key=key, value=value)
            review += 1
    producer.flush()
    producer.close()
    assert review > 0
    group = f"cases-{suffix}"
    lag = kafka_lag(kafka_bootstrap, group, [topics.review, topics.decisions])
    assert lag() == {topics.review: review, topics.decisions: len(records)}  # the group has committed nothing

    with CaseStore.open(tmp_path / "cases.db") as store:
        with CaseConsumer(store, kafka_bootstrap, topics, group=group) as consumer:
            progress = consumer.run(idle_exit=2)
        assert progress.records == review + len(records)
        assert lag() == {topics.review: 0, topics.decisions: 0}

        app = create_app(ConsoleConfig(store=store, secret="a-test-secret-of-enough-length", publish=print, lag=lag))
        text = TestClient(app).get("/metrics").text
    assert f'riskstream_console_ingest_lag{{topic="{topics.review}"}} 0.0' in text
    assert f'riskstream_console_ingest_lag{{topic="{topics.decisions}"}} 0.0' in text
