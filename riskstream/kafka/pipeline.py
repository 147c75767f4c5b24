"""The order pipeline's side of riskstream: publish orders, read decisions (kafka-python).

Publish each order to the ``orders`` topic as it is placed, then act on its decision
from ``risk-decisions`` (release, hold or cancel the order)::

    from riskstream.kafka.pipeline import DecisionReader, OrderPublisher

    with OrderPublisher() as orders:              # RISKSTREAM_BOOTSTRAP, else 127.0.0.1:9092
        orders.publish({
            "order_id": "o-000123",
            "event_time": "2026-11-11T20:00:00.800+08:00",
            "account_id": "u8812",
            "items": [{"sku": "FS-PHONE-01", "quantity": 1, "unit_price": 5999.0}],
            "ip": "203.0.113.7",
        })                                        # raises EventError before sending a bad order

    with DecisionReader(group_id="order-service") as decisions:
        for decision in decisions.follow():       # or .until_idle(5) in scripts and tests
            if decision["action"] in ("hold", "freeze"):
                hold_order(decision["order_id"], decision["reasons"])

:class:`OrderPublisher` keys every order by its ``account_id`` (the workers' account
state lives in the partition that key selects) and sends the order as JSON, exactly
as given: nothing is added or removed.  It validates against ``riskstream.order/v1``
first (:func:`riskstream.events.parse_order`) unless told not to.  Sends are
asynchronous: ``publish`` returns a future; call ``flush()`` (or leave the ``with``
block) before exiting.

A decision record may be published again with a higher ``revision`` when an order is
escalated later; the last revision per ``order_id`` is the decision.

Both classes take the cluster's security settings from the environment
(:func:`riskstream.kafka.topics.kafka_client_options`); keyword arguments are passed on to
kafka-python and win over those.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any, Self

import orjson

from ..events import EventError, parse_order
from .security import explained
from .topics import Topics, default_bootstrap, kafka_client_options

log = logging.getLogger("riskstream.pipeline")

#: Producer settings: wait for all in-sync replicas, batch for 5 ms, no compression.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "linger_ms": 5,
    "batch_size": 64 * 1024,
    "compression_type": None,
    "client_id": "riskstream-orders",
}


class OrderPublisher:
    """Publishes order events to the ``orders`` topic, keyed by account id.

    ``bootstrap`` defaults to ``RISKSTREAM_BOOTSTRAP`` (else ``127.0.0.1:9092``),
    ``topic`` to the catalogue's orders topic (``RISKSTREAM_TOPIC_ORDERS``).
    ``validate=False`` skips the contract check for every publish.
    """

    def __init__(
        self, bootstrap: str | None = None, topic: str | None = None, *, validate: bool = True, **kafka_options: Any
    ) -> None:
        from kafka import KafkaProducer

        self.bootstrap = bootstrap or default_bootstrap()
        self.topic = topic or Topics.from_env().orders
        self.validate = validate
        options = PRODUCER_DEFAULTS | kafka_client_options() | kafka_options
        self._producer = explained(lambda: KafkaProducer(bootstrap_servers=self.bootstrap, **options), self.bootstrap)
        self._closed = False

    def publish(self, order: Mapping[str, Any], *, validate: bool | None = None):
        """Send one order; return kafka-python's future (``.get(timeout)`` gives its offset).

        Raises :class:`~riskstream.events.EventError` (naming the field) for an order
        that breaks the contract, before anything is sent.  With validation off, an
        order without a string ``account_id`` is sent without a key.
        """
        if validate if validate is not None else self.validate:
            parse_order(order)
        account_id = order.get("account_id")
        key = account_id.encode() if isinstance(account_id, str) and account_id else None
        value = orjson.dumps(order if isinstance(order, dict) else dict(order))
        return self._producer.send(self.topic, value=value, key=key)

    def publish_raw(self, value: bytes, key: bytes | None = None):
        """Send bytes as they are (an order already serialised, or a replay of one)."""
        return self._producer.send(self.topic, value=bytes(value), key=key)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every order sent so far is acknowledged (or ``timeout`` seconds pass)."""
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush and close; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._producer.flush(timeout=timeout)  # raises if an order was not delivered
            try:
                self._producer.close(timeout=timeout)
            except OSError as exc:
                # kafka-python can race on its wake-up socket while its I/O
                # thread shuts down; every order was delivered by the flush.
                log.warning("producer close: %s (all orders were delivered)", exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class TopicNotFound(LookupError):
    """The topic to read does not exist on the cluster."""


class DecisionReader:
    """Reads decision records from ``risk-decisions`` (or ``topic``).

    Without ``group_id`` the reader takes every partition itself and commits
    nothing: it starts at the end of each partition, or at the beginning with
    ``from_beginning=True``.  With ``group_id`` it joins that consumer group,
    shares the partitions with the group's other members and commits its
    position; ``from_beginning`` then applies only where the group has no
    committed position yet.
    """

    def __init__(
        self,
        bootstrap: str | None = None,
        topic: str | None = None,
        group_id: str | None = None,
        from_beginning: bool = False,
        *,
        topic_timeout: float = 10.0,
        **kafka_options: Any,
    ) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.bootstrap = bootstrap or default_bootstrap()
        self.topic = topic or Topics.from_env().decisions
        self.group_id = group_id
        options = {
            "client_id": "riskstream-decisions",
            "group_id": group_id,
            "auto_offset_reset": "earliest" if from_beginning else "latest",
            "enable_auto_commit": group_id is not None,
            **kafka_client_options(),
            **kafka_options,
        }
        self._consumer = explained(lambda: KafkaConsumer(bootstrap_servers=self.bootstrap, **options), self.bootstrap)
        self._closed = False
        try:
            if group_id is None:
                partitions = self._wait_for_partitions(topic_timeout)
                assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
                self._consumer.assign(assigned)
                for tp in assigned:  # pin the start now: records published from here on are read
                    self._consumer.position(tp)
            else:
                self._consumer.subscribe([self.topic])
        except BaseException:
            self.close()
            raise

    def _wait_for_partitions(self, timeout: float) -> set[int]:
        deadline = time.monotonic() + timeout
        while True:
            partitions = self._consumer.partitions_for_topic(self.topic)
            if partitions:
                return partitions
            if time.monotonic() >= deadline:
                raise TopicNotFound(f"topic {self.topic!r} does not exist on {self.bootstrap}")
            time.sleep(0.2)

    def messages(self, idle: float | None = None) -> Iterator[Any]:
        """kafka-python ``ConsumerRecord`` objects (raw ``key``/``value`` bytes).

        With ``idle`` seconds, stop once no record has arrived for that long (in a
        consumer group, counted from when the group assigned partitions); without,
        run until the caller stops iterating.
        """
        poll = self._consumer.poll
        last = None  # when the idle clock (re)started
        while True:
            timeout = 0.2
            if idle is not None and last is not None:
                timeout = min(timeout, max(0.0, idle - (time.monotonic() - last)))
            batch = poll(timeout_ms=int(timeout * 1000))
            if batch:
                for records in batch.values():
                    yield from records
                last = time.monotonic()
            elif idle is not None:
                now = time.monotonic()
                if last is None:
                    if self.group_id is None or self._consumer.assignment():
                        last = now
                elif now - last >= idle:
                    return

    def until_idle(self, seconds: float = 5.0) -> Iterator[dict[str, Any]]:
        """Decisions until none has arrived for ``seconds``."""
        return self._decode(self.messages(idle=seconds))

    def follow(self) -> Iterator[dict[str, Any]]:
        """Decisions as they arrive, without end."""
        return self._decode(self.messages())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.follow()

    @staticmethod
    def _decode(records: Iterator[Any]) -> Iterator[dict[str, Any]]:
        loads = orjson.loads
        for record in records:
            if record.value is None:  # a tombstone: nothing to decide on
                continue
            try:
                yield loads(record.value)
            except orjson.JSONDecodeError as exc:
                raise ValueError(
                    f"{record.topic}[{record.partition}]@{record.offset}: not a JSON decision record: {exc}"
                ) from None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["PRODUCER_DEFAULTS", "DecisionReader", "EventError", "OrderPublisher", "TopicNotFound"]
