"""The rules control topic (``risk-rules``, kafka-python): publishing rule set records and reading them back.

The records themselves (``riskstream.ruleset/v1``) are built and validated in
:mod:`riskstream.rules.published`; here they are bytes keyed by role
(``live``, ``shadow``).  The topic has one partition, so every reader sees the
records in publish order, and is compacted, so the last record of each role
is what a worker starting later reads.
"""

from __future__ import annotations

import logging
from typing import Any

from .security import explained
from .topics import Topics, default_bootstrap, ensure_topics, kafka_client_options

log = logging.getLogger("riskstream.rules")

SEND_TIMEOUT = 30.0  #: seconds to wait for the broker's acknowledgement

__all__ = ["publish_control", "read_control", "read_recent"]


def publish_control(key: bytes, value: bytes, bootstrap: str | None = None, topic: str | None = None,
                    timeout: float = SEND_TIMEOUT) -> tuple[int, int]:
    """Send one record to the rules topic (created when missing) and wait for it; ``(partition, offset)``."""
    from kafka import KafkaProducer

    bootstrap = bootstrap or default_bootstrap()
    topics = Topics.from_env(rules=topic)
    ensure_topics(bootstrap, topics)
    producer = explained(lambda: KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                                               client_id="riskstream-rules", max_request_size=8_000_000,
                                               **kafka_client_options()), bootstrap)
    try:
        meta = producer.send(topics.rules, key=key, value=value).get(timeout=timeout)
    finally:
        try:
            producer.close(timeout=timeout)
        except OSError as exc:  # kafka-python's wake-up socket race on close; the send was acknowledged
            log.warning("producer close: %s", exc)
    return meta.partition, meta.offset


def read_control(bootstrap: str | None = None, topic: str | None = None, timeout: float = 10.0) -> list[tuple[bytes, bytes, int]]:
    """Every record on the rules topic now, in order: ``(key, value, offset)``."""
    from kafka import KafkaConsumer, TopicPartition

    bootstrap = bootstrap or default_bootstrap()
    name = topic or Topics.from_env().rules
    consumer = explained(lambda: KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                               **kafka_client_options()), bootstrap)
    out: list[tuple[bytes, bytes, int]] = []
    try:
        partition = TopicPartition(name, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        options: dict[str, Any] = {"timeout_ms": int(timeout * 1000)}
        while consumer.position(partition) < end:
            batch = consumer.poll(**options)
            if not batch:
                break
            for records in batch.values():
                out.extend((r.key or b"", r.value or b"", r.offset) for r in records)
    finally:
        consumer.close()
    return out


def read_recent(bootstrap: str | None, topic: str, last: int, timeout: float = 10.0) -> list[bytes]:
    """The values of about the ``last`` most recent records of a topic (spread over its partitions)."""
    from kafka import KafkaConsumer, TopicPartition

    bootstrap = bootstrap or default_bootstrap()
    consumer = explained(lambda: KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                               **kafka_client_options()), bootstrap)
    out: list[bytes] = []
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            raise ValueError(f"topic {topic!r} not found on {bootstrap}")
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        starts = consumer.beginning_offsets(partitions)
        share = max(1, last // len(partitions))
        for tp in partitions:
            consumer.seek(tp, max(starts[tp], ends[tp] - share))
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            batch = consumer.poll(timeout_ms=int(timeout * 1000))
            if not batch:
                break
            for records in batch.values():
                out.extend(r.value for r in records if r.value)
    finally:
        consumer.close()
    return out
