"""Orders into a topic at a set pace, and the records that come back out, for live runs."""

from __future__ import annotations

import time

import orjson
from kafka import KafkaConsumer

from ..kafka.pipeline import OrderPublisher
from ..kafka.security import kafka_client_options

__all__ = ["DecisionTally", "first_and_final", "first_records", "publish_paced", "read_records"]


def read_records(bootstrap: str, topic: str, expected: int, timeout: float = 120.0, settle: float = 2.0) -> list:
    """Every record of ``topic`` from its start: until ``expected`` arrived (or ``timeout``
    seconds passed), then ``settle`` seconds more, so that any record beyond those shows."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1000, fetch_max_bytes=4 * 1024 * 1024,
                             **kafka_client_options())
    records, deadline = [], time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            records.extend(consumer)
        end = time.monotonic() + settle
        while time.monotonic() < end:
            records.extend(consumer)
    finally:
        consumer.close()
    return records


class DecisionTally:
    """Every decision record read so far, per order."""

    def __init__(self, bootstrap: str, topic: str):
        self.consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                      enable_auto_commit=False, **kafka_client_options())
        self.records: dict[str, list[dict]] = {}

    def poll(self) -> int:
        """Read what has arrived (bounded wait); the number of orders decided so far."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            batches = self.consumer.poll(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    self.records.setdefault(record.key.decode(), []).append(orjson.loads(record.value))
            if not batches:
                break
        return len(self.records)

    def settle(self, orders: int, deadline: float, idle: float = 60.0, quiet: float = 5.0) -> int:
        """Read until all ``orders`` are decided and nothing new came for ``quiet`` seconds (late
        revisions count), or nothing at all for ``idle`` seconds, or the monotonic ``deadline``."""
        idle_since, last = time.monotonic(), self.poll()
        while time.monotonic() - idle_since < idle and time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.poll()
            if now != last:
                last, idle_since = now, time.monotonic()
            elif now >= orders and time.monotonic() - idle_since > quiet:
                break
        return last

    def close(self) -> None:
        self.consumer.close()


def first_records(bootstrap: str, topic: str, want: int, key_of, progress=None, idle: float = 20.0) -> dict[str, tuple[int, dict]]:
    """The first record per ``key_of(value)``: (Kafka timestamp in ms, decoded value)."""
    found = first_and_final(bootstrap, topic, want, progress, idle, settle=0.0, key_of=key_of)
    return {key: (ts, first) for key, (ts, first, _) in found.items()}


def first_and_final(bootstrap: str, topic: str, want: int, progress=None, idle: float = 20.0,
                    settle: float = 2.0, key_of=lambda value: value["order_id"]) -> dict[str, tuple[int, dict, dict]]:
    """Records per ``key_of(value)`` (decisions: per order id): (Kafka timestamp of the first,
    the first, the final one: the highest ``revision``).  Reads until ``want`` keys have a
    record, then until nothing new came for ``settle`` seconds, so escalations published
    after the last first decision count; gives up after ``idle`` seconds without a record."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=200, **kafka_client_options())
    found: dict[str, tuple[int, dict, dict]] = {}
    last_change = time.monotonic()
    try:
        while time.monotonic() - last_change < (settle if len(found) >= want else idle):
            records = 0
            for record in consumer:
                records += 1
                value = orjson.loads(record.value)
                key = key_of(value)
                known = found.get(key)
                if known is None:
                    found[key] = (record.timestamp, value, value)
                elif value.get("revision", 1) > known[2].get("revision", 1):
                    found[key] = (known[0], known[1], value)
            if records:
                last_change = time.monotonic()
                if progress:
                    progress(min(len(found), want))
    finally:
        consumer.close()
    return found


def publish_paced(bootstrap: str, topic: str, events: list[dict], rate: float) -> None:
    """Publish ``events`` at about ``rate`` orders/s (0: as fast as possible), like live traffic.

    The pace is kept every 2 ms of traffic, not in larger bursts: a burst is
    a gap on every partition, and the graph stage, which applies links in
    event-time order across partitions, holds an order until each partition
    has passed it, so bursts every quarter second showed up as a quarter
    second of latency that smooth traffic does not have."""
    step = max(1, int(rate / 500)) if rate else 1
    with OrderPublisher(bootstrap, topic=topic) as publisher:
        started = time.monotonic()
        for n, event in enumerate(events):
            if rate and n % step == 0:
                ahead = started + n / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            publisher.publish(event, validate=False)
