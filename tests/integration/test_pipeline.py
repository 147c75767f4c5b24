"""The order pipeline's helpers and commands against the session's real broker.

Every test works on its own topic catalogue (unique names), so tests never see each
other's records and the default topic names stay untouched.
"""

from __future__ import annotations

import re
import ssl
import time
import uuid
from collections import Counter, defaultdict

import orjson
import pytest
from click.testing import CliRunner
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import DefaultPartitioner

from riskstream.cli.stream import decisions, produce
from riskstream.events import EventError
from riskstream.kafka.pipeline import DecisionReader, OrderPublisher, TopicNotFound
from riskstream.kafka.security import KafkaSecurityError
from riskstream.kafka.topics import (
    Topics,
    create_missing,
    delete_topics_containing,
    describe_partitions,
    ensure_topics,
    kafka_client_options,
)
from riskstream.sim import simulate, write_jsonl

pytestmark = pytest.mark.integration

MALFORMED = b'{"order_id": "o-broken", "account_id": "u-broken", "items": ['


def _catalogue() -> Topics:
    tag = uuid.uuid4().hex[:10]
    return Topics(
        orders=f"orders-{tag}",
        decisions=f"risk-decisions-{tag}",
        review=f"risk-review-{tag}",
        dlq=f"orders-dlq-{tag}",
        verdicts=f"risk-verdicts-{tag}",
        rules=f"risk-rules-{tag}",
    )


def _env(topics: Topics) -> dict[str, str]:
    return {
        "RISKSTREAM_TOPIC_ORDERS": topics.orders,
        "RISKSTREAM_TOPIC_DECISIONS": topics.decisions,
        "RISKSTREAM_TOPIC_REVIEW": topics.review,
        "RISKSTREAM_TOPIC_DLQ": topics.dlq,
        "RISKSTREAM_TOPIC_VERDICTS": topics.verdicts,
    }


def _read_all(bootstrap: str, topic: str, timeout: float = 30.0) -> list:
    """Every record of ``topic``, checked against the partitions' end offsets."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        expected = sum(consumer.end_offsets(partitions).values())
        records: list = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        assert len(records) == expected, f"read {len(records)} of {expected} records from {topic}"
        return records
    finally:
        consumer.close()


def _order(n: int = 1) -> dict:
    return next(o for i, o in enumerate(simulate(n + 1, seed=5)) if i == n)


def _partition_of(key: bytes, count: int) -> int:
    return DefaultPartitioner()(key, list(range(count)), list(range(count)))


def _summary_seconds(stderr: str) -> float:
    match = re.search(r"sent [\d,]+ orders to \S+ in ([\d.]+) s", stderr)
    assert match, stderr
    return float(match.group(1))


# -- the catalogue and client settings (no broker needed) ---------------------


def test_catalogue_defaults_and_environment_overrides() -> None:
    assert Topics().partition_counts() == {
        "orders": 6, "risk-decisions": 6, "risk-review": 6, "orders-dlq": 1, "risk-verdicts": 3, "risk-rules": 1,
    }
    topics = Topics.from_env({"RISKSTREAM_TOPIC_ORDERS": "shop.orders", "RISKSTREAM_TOPIC_DLQ": "shop.dlq",
                              "RISKSTREAM_PARTITIONS": "12"})
    assert topics.partition_counts() == {
        "shop.orders": 12, "risk-decisions": 12, "risk-review": 12, "shop.dlq": 1, "risk-verdicts": 3, "risk-rules": 1,
    }
    assert Topics.from_env({}, orders="x").orders == "x"
    with pytest.raises(ValueError, match="RISKSTREAM_PARTITIONS"):
        Topics.from_env({"RISKSTREAM_PARTITIONS": "six"})
    with pytest.raises(ValueError, match="partitions"):
        Topics(partitions=0)


def test_client_options_only_carry_what_is_set() -> None:
    assert kafka_client_options({}) == {}
    secured = {
        "RISKSTREAM_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "RISKSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "RISKSTREAM_KAFKA_SASL_USERNAME": "riskstream",
        "RISKSTREAM_KAFKA_SASL_PASSWORD": " s3cret ",
    }
    options = kafka_client_options(secured)
    context = options.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext) and context.check_hostname  # the system's CAs: no CA file set
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "riskstream",
        "sasl_plain_password": " s3cret ",
    }
    with pytest.raises(KafkaSecurityError, match="RISKSTREAM_KAFKA_SSL_CAFILE: no such file"):
        kafka_client_options(secured | {"RISKSTREAM_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"})
    with pytest.raises(ValueError, match="SECURITY_PROTOCOL"):
        kafka_client_options({"RISKSTREAM_KAFKA_SECURITY_PROTOCOL": "TLS"})


# -- against the broker --------------------------------------------------------


def test_ensure_topics_creates_the_catalogue_once(kafka_bootstrap: str) -> None:
    topics = _catalogue()
    assert ensure_topics(kafka_bootstrap, topics) == topics.names()
    assert describe_partitions(kafka_bootstrap, topics) == {
        topics.orders: 6, topics.decisions: 6, topics.review: 6, topics.dlq: 1, topics.verdicts: 3, topics.rules: 1,
    }
    assert ensure_topics(kafka_bootstrap, topics) == []
    assert describe_partitions(kafka_bootstrap, [topics.dlq, "no-such-topic-" + uuid.uuid4().hex]) == {topics.dlq: 1}


def test_a_benchmark_run_deletes_its_own_topics_and_no_others(kafka_bootstrap: str) -> None:
    run, other = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    mine = {f"bench-orders-{run}": 2, f"bench-{run}-signals": 1}
    create_missing(kafka_bootstrap, mine | {f"bench-orders-{other}": 1})

    assert delete_topics_containing(kafka_bootstrap, run) == sorted(mine)

    deadline = time.monotonic() + 30
    while describe_partitions(kafka_bootstrap, list(mine)) and time.monotonic() < deadline:
        time.sleep(0.2)  # deletion completes in the background
    assert describe_partitions(kafka_bootstrap, list(mine)) == {}
    assert describe_partitions(kafka_bootstrap, [f"bench-orders-{other}"]) == {f"bench-orders-{other}": 1}
    with pytest.raises(ValueError, match="too short|short"):
        delete_topics_containing(kafka_bootstrap, "bench")


def test_publisher_refuses_a_bad_order_and_keys_a_good_one_by_account(kafka_bootstrap: str) -> None:
    topics = _catalogue()
    ensure_topics(kafka_bootstrap, topics)
    order = _order()
    order["label"] = 1  # unknown fields ride along untouched

    with OrderPublisher(kafka_bootstrap, topics.orders) as publisher:
        with pytest.raises(EventError) as missing:
            publisher.publish({k: v for k, v in order.items() if k != "account_id"})
        assert missing.value.field == "account_id"
        with pytest.raises(EventError) as bad_quantity:
            publisher.publish(order | {"items": [{"sku": "FS-PHONE-01", "quantity": 0, "unit_price": 1.0}]})
        assert bad_quantity.value.field == "items[0].quantity"
        metadata = publisher.publish(order).get(timeout=20)

    records = _read_all(kafka_bootstrap, topics.orders)
    assert len(records) == 1  # nothing invalid went out
    (record,) = records
    assert record.key == order["account_id"].encode()
    assert orjson.loads(record.value) == order
    assert (record.partition, record.offset) == (metadata.partition, metadata.offset)
    assert record.partition == _partition_of(record.key, 6)


def test_produce_publishes_every_line_keyed_by_account(kafka_bootstrap: str, tmp_path) -> None:
    topics = _catalogue()
    path = tmp_path / "orders.jsonl"
    write_jsonl(path, 2000, seed=3)
    lines = path.read_bytes().splitlines()
    lines.insert(1000, MALFORMED)
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = CliRunner().invoke(produce, [str(path), "--bootstrap", kafka_bootstrap], env=_env(topics))
    assert result.exit_code == 0, result.output
    assert "sent 2,001 orders" in result.stderr
    assert "1 without an account id" in result.stderr
    assert "line 1001: not valid JSON" in result.stderr

    records = _read_all(kafka_bootstrap, topics.orders)
    assert Counter(r.value for r in records) == Counter(lines)  # byte for byte, extra fields included
    for record in records:
        if record.value == MALFORMED:
            assert record.key is None
        else:
            assert record.key == orjson.loads(record.value)["account_id"].encode()
            assert record.partition == _partition_of(record.key, 6)  # as every Kafka client keys it
    # per account, the order of the file is kept
    by_account = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.key is not None:
            by_account[record.key].append(record.value)
    expected = defaultdict(list)
    for line in lines:
        if line != MALFORMED:
            expected[orjson.loads(line)["account_id"].encode()].append(line)
    assert by_account == expected


def test_produce_paces_orders_evenly(kafka_bootstrap: str, tmp_path) -> None:
    topics = _catalogue()
    path = tmp_path / "orders.jsonl"
    write_jsonl(path, 1000, seed=4)

    started = time.monotonic()
    result = CliRunner().invoke(
        produce, [str(path), "--bootstrap", kafka_bootstrap, "--rate", "2000", "--no-validate"], env=_env(topics)
    )
    wall = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert "sent 1,000 orders" in result.stderr
    seconds = _summary_seconds(result.stderr)
    assert 0.35 <= seconds <= 2.0
    assert wall >= 0.35

    stamps = sorted(r.timestamp for r in _read_all(kafka_bootstrap, topics.orders))  # producer time, ms
    assert 350 <= stamps[-1] - stamps[0] <= 2000
    # evenly spread: no 50 ms stretch holds much more than its share (100 orders)
    busiest = max(sum(1 for s in stamps[i:i + 300] if s < start + 50) for i, start in enumerate(stamps))
    assert busiest <= 200


def test_decisions_reads_back_records_as_published(kafka_bootstrap: str, tmp_path) -> None:
    topics = _catalogue()
    ensure_topics(kafka_bootstrap, topics)
    records = [
        orjson.dumps({"schema": "riskstream.decision/v1", "order_id": f"o-{n:04d}", "action": action,
                      "reasons": [{"rule": "address-new-accounts", "value": "上海市浦东新区"}], "revision": 1})
        for n, action in enumerate(["allow", "review", "hold", "freeze"] * 10)
    ]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        for record in records:
            producer.send(topics.decisions, key=orjson.loads(record)["order_id"].encode(), value=record)
        producer.flush(timeout=20)
    finally:
        producer.close()

    output = tmp_path / "out" / "decisions.jsonl"
    result = CliRunner().invoke(
        decisions,
        ["--bootstrap", kafka_bootstrap, "--from-beginning", "--until-idle", "1", "-o", str(output)],
        env=_env(topics),
    )
    assert result.exit_code == 0, result.output
    assert f"read 40 decision records from {topics.decisions}" in result.stderr
    assert sorted(output.read_bytes().splitlines()) == sorted(records)

    with DecisionReader(kafka_bootstrap, topics.decisions, from_beginning=True) as reader:
        seen = list(reader.until_idle(0.5))
    assert sorted(d["order_id"] for d in seen) == [f"o-{n:04d}" for n in range(40)]
    assert Counter(d["action"] for d in seen) == {"allow": 10, "review": 10, "hold": 10, "freeze": 10}


def test_reader_names_a_missing_topic(kafka_bootstrap: str) -> None:
    missing = "risk-decisions-" + uuid.uuid4().hex[:10]
    with pytest.raises(TopicNotFound, match=f"topic {missing!r} does not exist"):
        DecisionReader(kafka_bootstrap, missing, topic_timeout=0.5)


def test_produce_reads_standard_input(kafka_bootstrap: str) -> None:
    topics = _catalogue()
    lines = [orjson.dumps(order) for order in simulate(20, seed=6)]
    result = CliRunner().invoke(
        produce, ["-", "--bootstrap", kafka_bootstrap], input=b"\r\n".join(lines) + b"\r\n\n", env=_env(topics)
    )
    assert result.exit_code == 0, result.output
    assert "sent 20 orders" in result.stderr
    assert sorted(r.value for r in _read_all(kafka_bootstrap, topics.orders)) == sorted(lines)


def test_the_demo_reads_each_orders_first_and_final_decision(kafka_bootstrap):
    """The demo's summary counts final decisions (a ring's early orders are escalated by a
    later revision) and times the first; an escalation that lands after every order has its
    first decision still counts."""
    import threading

    from riskstream.harness import first_and_final

    topics = _catalogue()
    ensure_topics(kafka_bootstrap, topics)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, **kafka_client_options())

    def send(order_id, revision, action):
        value = {"order_id": order_id, "revision": revision, "action": action}
        producer.send(topics.decisions, key=order_id.encode(), value=orjson.dumps(value)).get(timeout=30)

    send("o-1", 1, "review")
    send("o-2", 1, "hold")
    send("o-1", 2, "freeze")
    send("o-2", 1, "hold")  # a repeated record of the same revision changes nothing
    late = threading.Timer(0.8, lambda: send("o-2", 2, "freeze"))
    late.start()
    try:
        found = first_and_final(kafka_bootstrap, topics.decisions, want=2, idle=30.0, settle=3.0)
    finally:
        late.join()
        producer.close()
    assert sorted(found) == ["o-1", "o-2"]
    assert [found["o-1"][1]["action"], found["o-1"][2]["action"]] == ["review", "freeze"]
    assert [found["o-2"][1]["action"], found["o-2"][2]["action"]] == ["hold", "freeze"]
    assert all(isinstance(first_ts, int) and first_ts > 0 for first_ts, _, _ in found.values())
