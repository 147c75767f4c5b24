"""The local Kafka launcher against a real broker, with kafka-python and aiokafka."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections import Counter, defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AIOTopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin import NewTopic as AIONewTopic
from click.testing import CliRunner

# kafka-python 3.0 loads its protocol schemas with the legacy importlib.resources
# API, which warns on Python 3.11+; the test session turns warnings into errors.
_KAFKA_PYTHON_LEGACY_RESOURCES = (
    r"ignore:(read_text|open_text) is deprecated:DeprecationWarning"
)
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", r"(read_text|open_text) is deprecated", DeprecationWarning
    )
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

from riskstream.cli.kafka import EXIT_NOT_RUNNING, kafka
from riskstream.kafka.local import LocalKafka, LocalKafkaError
from riskstream.kafka.local.protocol import port_in_use, probe

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings(_KAFKA_PYTHON_LEGACY_RESOURCES),
]

MESSAGES = 1000
KEYS = 40


def _topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="test-admin")
    try:
        admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        )
        # The controller answers before every broker's metadata has the topic.
        deadline = time.monotonic() + 15
        while name not in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert name in admin.list_topics()
    finally:
        admin.close()


def test_status_reports_the_session_broker(
    local_kafka: LocalKafka, kafka_bootstrap: str
) -> None:
    status = local_kafka.status()
    assert status["running"] is True
    assert status["bootstrap"] == kafka_bootstrap
    assert status["version"] == local_kafka.version
    info = probe("127.0.0.1", local_kafka.port)
    assert info.cluster_id == status["cluster_id"]
    assert info.brokers == ((1, "127.0.0.1", local_kafka.port),)


def test_keyed_messages_round_trip_with_kafka_python(kafka_bootstrap: str) -> None:
    topic = _topic("roundtrip")
    _create_topic(kafka_bootstrap, topic, partitions=3)

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    sent: dict[int, Counter] = defaultdict(Counter)
    futures = []
    try:
        for i in range(MESSAGES):
            key = f"acct-{i % KEYS}"
            value = str(i).encode()
            futures.append((key, producer.send(topic, key=key.encode(), value=value)))
        producer.flush(timeout=30)
        for key, future in futures:
            sent[future.get(timeout=10).partition][key] += 1
    finally:
        producer.close(timeout=10)

    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, enable_auto_commit=False
    )
    partitions = [TopicPartition(topic, p) for p in range(3)]
    received: dict[int, Counter] = defaultdict(Counter)
    values_by_key: dict[str, list[int]] = defaultdict(list)
    try:
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        total, idle = 0, 0
        while total < MESSAGES and idle < 20:
            batch = consumer.poll(timeout_ms=500)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                for record in records:
                    key = record.key.decode()
                    received[tp.partition][key] += 1
                    values_by_key[key].append(int(record.value))
                    total += 1
        end_offsets = consumer.end_offsets(partitions)
    finally:
        consumer.close()

    assert total == MESSAGES
    assert received == sent
    assert sum(end_offsets.values()) == MESSAGES
    assert set(received) == {0, 1, 2}, "40 keys should spread over all 3 partitions"
    partitions_of_key = Counter(key for counts in received.values() for key in counts)
    assert len(partitions_of_key) == KEYS
    assert set(partitions_of_key.values()) == {1}, (
        "a key must live in exactly one partition"
    )
    for key, values in values_by_key.items():
        assert len(values) == MESSAGES // KEYS
        assert values == sorted(values), f"per-key order broken for {key}"


def test_aiokafka_group_consumer_round_trip(kafka_bootstrap: str) -> None:
    topic, group = _topic("aio"), _topic("aio-group")

    async def run() -> tuple[bytes, bytes, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [AIONewTopic(topic, num_partitions=2, replication_factor=1)]
            )
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"order-1", key=b"acct-7")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=60)
            await consumer.commit()
            committed = await consumer.committed(
                AIOTopicPartition(topic, record.partition)
            )
        finally:
            await consumer.stop()
        return record.key, record.value, committed

    key, value, committed = asyncio.run(run())
    assert (key, value, committed) == (b"acct-7", b"order-1", 1)


def test_up_is_idempotent_and_down_stops(make_local_kafka) -> None:
    broker = make_local_kafka()
    bootstrap = broker.up(timeout=180)
    first = broker.status()
    assert bootstrap == f"127.0.0.1:{broker.port}"
    assert first["running"] is True and first["pid"]

    assert broker.up() == bootstrap
    again = make_local_kafka(port=broker.port, data_dir=broker.data_dir)
    assert again.up() == bootstrap
    assert again.status()["pid"] == first["pid"]

    assert broker.down() is True
    stopped = broker.status()
    assert stopped["running"] is False and stopped["pid"] is None
    assert broker.down() is False
    assert not port_in_use("127.0.0.1", broker.port)


def test_port_taken_by_another_process_is_a_clear_error(make_local_kafka) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        broker = make_local_kafka(port=squatter.getsockname()[1])
        with pytest.raises(LocalKafkaError, match="already in use by another process"):
            broker.up(timeout=30)
        assert broker.status()["running"] is False


def test_port_taken_by_another_broker_is_a_clear_error(
    local_kafka, make_local_kafka
) -> None:
    broker = make_local_kafka(port=local_kafka.port)
    with pytest.raises(LocalKafkaError, match="another Kafka broker"):
        broker.up(timeout=30)


def test_start_timeout_reports_the_log_tail_and_stops_the_jvm(make_local_kafka) -> None:
    broker = make_local_kafka()
    with pytest.raises(LocalKafkaError, match="did not answer") as excinfo:
        broker.up(timeout=0.2)
    assert "last lines of" in str(excinfo.value)
    assert broker.status()["pid"] is None
    assert not port_in_use("127.0.0.1", broker.port)


def test_cli_up_is_idempotent_and_status_exit_codes(
    local_kafka: LocalKafka, make_local_kafka
) -> None:
    runner = CliRunner()
    data_dir = str(local_kafka.data_dir)
    result = runner.invoke(kafka, ["up", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == local_kafka.bootstrap

    result = runner.invoke(kafka, ["status", "--json", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert f'"pid": {local_kafka.status()["pid"]}' in result.stdout

    idle = make_local_kafka()
    result = runner.invoke(kafka, ["status", "--data-dir", str(idle.data_dir)])
    assert result.exit_code == EXIT_NOT_RUNNING


def test_python_dash_m_entry_point(local_kafka: LocalKafka) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "riskstream.cli", "kafka", "status"]
        + ["--data-dir", str(local_kafka.data_dir)],
        capture_output=True,
        text=True,
        cwd=local_kafka.root,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"bootstrap: {local_kafka.bootstrap}" in proc.stdout
