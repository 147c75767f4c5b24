"""The case store's Kafka consumer: ``risk-review`` and ``risk-decisions`` into the store (kafka-python).

One consumer group (``riskstream-cases`` by default) reads both topics; each
poll's records are written in one transaction, then the offsets are committed,
so a crash repeats at most one batch, which the store takes as duplicates.
A record that breaks the decision contract goes to the dead-letter topic with
the reason, the field and where it came from in headers (as the workers do).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..kafka.security import explained
from ..kafka.topics import Topics, default_bootstrap, kafka_client_options
from .ingest import CaseIngest, IngestResult
from .logs import redact_kafka_records
from .store import CaseStore

log = logging.getLogger("riskstream.cases")

DEFAULT_GROUP = "riskstream-cases"
MAX_RECORDS = 5000  #: records per poll, one transaction
# kafka-python asks for up to 50 MiB per fetch but refuses network frames over 1 MB by default, so a fetch of
# several full partitions fails ("Invalid frame length"); both bounds are set together.
FETCH_MAX_BYTES = 8 * 1024 * 1024
JOIN_TIMEOUT = 60.0  #: seconds to wait for the group to assign partitions


@dataclass(slots=True)
class IngestProgress:
    """Totals of a running consumer."""

    records: int = 0
    batches: int = 0
    dead: int = 0
    result: IngestResult | None = None


class CaseConsumer:
    """Follows the review and decision topics into a case store."""

    def __init__(self, store: CaseStore, bootstrap: str | None = None, topics: Topics | None = None,
                 group: str = DEFAULT_GROUP, **kafka_options: Any):
        from kafka import KafkaConsumer, KafkaProducer

        redact_kafka_records()  # the records read and dead-lettered may hold anything: no values in the logs
        self.bootstrap = bootstrap or default_bootstrap()
        self.topics = topics or Topics.from_env()
        self.ingest = CaseIngest(store)
        options = kafka_client_options()
        self._consumer = explained(lambda: KafkaConsumer(
            self.topics.review, self.topics.decisions, bootstrap_servers=self.bootstrap, group_id=group,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=MAX_RECORDS,
            fetch_max_bytes=FETCH_MAX_BYTES, receive_message_max_bytes=FETCH_MAX_BYTES + 1024 * 1024,
            client_id="riskstream-cases", **(options | kafka_options)), self.bootstrap)
        self._dlq = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", client_id="riskstream-cases-dlq",
                                  **options)
        self.progress = IngestProgress(result=IngestResult())

    def poll_once(self, timeout_ms: int = 500) -> int:
        """One poll: ingest what came, dead-letter the bad records, commit.  Returns the records read."""
        polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=MAX_RECORDS)
        messages = [m for batch in polled.values() for m in batch]
        if not messages:
            return 0
        result = self.ingest.ingest([m.value or b"" for m in messages])
        for index, problem in result.rejected:
            message = messages[index]
            headers = [("reason", problem.problem.encode()), ("field", (problem.field or "").encode()),
                       ("source_topic", message.topic.encode()),
                       ("source_partition", str(message.partition).encode()),
                       ("source_offset", str(message.offset).encode())]
            self._dlq.send(self.topics.dlq, value=message.value or b"", headers=headers)
            log.warning("case ingest: %s:%d@%d refused (dead-lettered): %s", message.topic, message.partition,
                        message.offset, problem.redacted)  # the value seen stays out of the log
        if result.rejected:
            self._dlq.flush()
        self._consumer.commit()
        progress = self.progress
        progress.records += len(messages)
        progress.batches += 1
        progress.dead += len(result.rejected)
        progress.result.merge(result)
        return len(messages)

    def run(self, *, idle_exit: float | None = None, should_stop: Callable[[], bool] = lambda: False) -> IngestProgress:
        """Poll until ``should_stop()``, or until nothing came for ``idle_exit`` seconds.

        The idle time counts from when the group gave this consumer its partitions: a fresh
        broker may take seconds to set up the group, and that is not an idle topic."""
        from kafka.errors import KafkaTimeoutError

        started = last = time.monotonic()
        while not should_stop():
            if self.poll_once():
                last = time.monotonic()
            elif not self._consumer.assignment():
                last = time.monotonic()
                if last - started > JOIN_TIMEOUT:
                    raise KafkaTimeoutError(f"no partitions of {self.topics.review} and {self.topics.decisions} "
                                            f"assigned after {JOIN_TIMEOUT:.0f} s: is the broker up and the group "
                                            "free?")
            elif idle_exit is not None and time.monotonic() - last >= idle_exit:
                break
        return self.progress

    def close(self) -> None:
        self._consumer.close()
        self._dlq.close()

    def __enter__(self) -> "CaseConsumer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["CaseConsumer", "DEFAULT_GROUP", "IngestProgress"]
