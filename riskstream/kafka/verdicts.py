"""Reviewers' verdicts onto ``risk-verdicts`` (kafka-python): what the console and ``riskstream verdicts publish`` use.

::

    from riskstream.kafka.verdicts import VerdictPublisher
    from riskstream.verdicts import Verdict

    with VerdictPublisher() as verdicts:          # RISKSTREAM_BOOTSTRAP, else 127.0.0.1:9092
        verdicts.publish(Verdict.create("freeze", "alice", accounts=["u8812", "u8813"], case_id="c-17"))

Each record is keyed by its ``verdict_id``.  The topic is compacted (see
:func:`riskstream.kafka.topics.topic_configs`): every verdict stays on it, and
a verdict published twice is kept once, so a worker that starts reads the
whole list from the beginning.  ``publish`` validates before sending and waits
for the broker's acknowledgement (a verdict is rare and must not be lost).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Self

from ..verdicts import Verdict, parse_verdict
from .security import explained
from .topics import Topics, default_bootstrap, kafka_client_options

log = logging.getLogger("riskstream.verdicts")

PRODUCER_DEFAULTS: dict[str, Any] = {"acks": "all", "linger_ms": 0, "client_id": "riskstream-verdicts"}
SEND_TIMEOUT = 30.0  #: seconds to wait for the broker's acknowledgement


class VerdictPublisher:
    """Publishes verdicts to ``risk-verdicts`` (``RISKSTREAM_TOPIC_VERDICTS``), keyed by verdict id."""

    def __init__(self, bootstrap: str | None = None, topic: str | None = None, **kafka_options: Any) -> None:
        from kafka import KafkaProducer

        self.bootstrap = bootstrap or default_bootstrap()
        self.topic = topic or Topics.from_env().verdicts
        options = PRODUCER_DEFAULTS | kafka_client_options() | kafka_options
        self._producer = explained(lambda: KafkaProducer(bootstrap_servers=self.bootstrap, **options), self.bootstrap)
        self._closed = False

    def publish(self, verdict: Verdict | Mapping[str, Any], timeout: float = SEND_TIMEOUT) -> tuple[int, int]:
        """Validate and send one verdict; wait until the broker has it.  Returns ``(partition, offset)``.

        Raises :class:`~riskstream.verdicts.VerdictError` (naming the field) before
        sending a record that breaks the contract."""
        if not isinstance(verdict, Verdict):
            verdict = parse_verdict(verdict)
        meta = self.send(verdict).get(timeout=timeout)
        return meta.partition, meta.offset

    def send(self, verdict: Verdict):
        """Send without waiting; kafka-python's future (``flush`` or ``.get`` it)."""
        return self._producer.send(self.topic, key=verdict.verdict_id.encode(), value=verdict.encode())

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush and close; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._producer.flush(timeout=timeout)
            try:
                self._producer.close(timeout=timeout)
            except OSError as exc:  # kafka-python's wake-up socket race on close; the flush delivered all
                log.warning("producer close: %s (all verdicts were delivered)", exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["VerdictPublisher"]
