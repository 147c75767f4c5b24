"""Verdicts onto a real broker: ``riskstream verdicts publish`` and :class:`VerdictPublisher`."""

from __future__ import annotations

import uuid

import orjson
from click.testing import CliRunner
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType

from riskstream.cli import main
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.kafka.verdicts import VerdictPublisher
from riskstream.verdicts import Verdict, parse_verdict


def read_verdicts(bootstrap: str, topic: str, want: int) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        records = []
        for record in consumer:
            records.append(record)
            if len(records) >= want:
                break
        return records
    finally:
        consumer.close()


def test_publish_validates_the_whole_file_then_sends_keyed_by_verdict_id(kafka_bootstrap, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=1, verdicts_partitions=1)
    ensure_topics(kafka_bootstrap, topics)
    verdicts = [Verdict.create("freeze", "alice", accounts=["u1", "u2"], case_id="c-1"),
                Verdict.create("release", "bob", orders=["o-7"], note="customer called")]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(verdicts[0].encode() + b"\n" + b'{"schema": "riskstream.verdict/v1", "verdict_id": "v"}\n')
    runner = CliRunner()
    refused = runner.invoke(main, ["verdicts", "publish", str(bad), "-b", kafka_bootstrap, "-t", topics.verdicts])
    assert refused.exit_code == 1 and "bad.jsonl:2: required field is missing" in refused.output

    good = tmp_path / "verdicts.jsonl"
    good.write_bytes(b"\n".join(v.encode() for v in verdicts) + b"\n")
    result = runner.invoke(main, ["verdicts", "publish", str(good), "-b", kafka_bootstrap, "-t", topics.verdicts])
    assert result.exit_code == 0, result.output
    assert "published 2 verdicts" in result.output and "freeze 1, release 1" in result.output

    with VerdictPublisher(kafka_bootstrap, topics.verdicts) as publisher:
        partition, offset = publisher.publish(verdicts[0].to_dict())  # the same verdict again: same key
    assert (partition, offset) == (0, 2)  # nothing of the bad file went out
    records = read_verdicts(kafka_bootstrap, topics.verdicts, 3)
    assert [r.key.decode() for r in records] == [verdicts[0].verdict_id, verdicts[1].verdict_id, verdicts[0].verdict_id]
    assert [parse_verdict(r.value) for r in records] == [verdicts[0], verdicts[1], verdicts[0]]
    assert orjson.loads(records[1].value)["note"] == "customer called"

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        (described,) = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topics.verdicts)])
    finally:
        admin.close()
    configs = {entry[0]: entry[1] for entry in described.resources[0][4]}
    assert configs["cleanup.policy"] == "compact"  # every verdict stays for workers that start later
