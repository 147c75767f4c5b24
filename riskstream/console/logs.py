"""Record values kept out of the console's logs.

kafka-python logs every record it sends (``Sending (key=... value=...)``) and
every poll's records at DEBUG.  The case ingest reads and dead-letters records
that may be anything (a raw order with a phone, an address and an IP sent to
the wrong topic), and a verdict carries its reviewer's note, so at DEBUG those
lines would put personal data in the console's logs.  :func:`redact_kafka_records`
rewrites them to sizes, once per process; everything else kafka-python logs is
left as it is.
"""

from __future__ import annotations

import logging

_SENDING = "%s: Sending (key=%r value=%r headers=%r) to %s"
_FETCHED = "poll: fetched records: %s, %s"


def _size(value) -> str:
    return "None" if value is None else f"<{len(value)} bytes>" if hasattr(value, "__len__") else "<value>"


class RecordValues(logging.Filter):
    """Replaces the keys, values and headers of kafka-python's per-record DEBUG lines by their sizes."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg == _SENDING and len(args) == 5:
            record.args = (args[0], _size(args[1]), _size(args[2]), f"<{len(args[3] or ())} headers>", args[4])
        elif record.msg == _FETCHED and len(args) == 2:
            records = args[0]
            count = sum(len(batch) for batch in records.values()) if isinstance(records, dict) else "?"
            record.args = (f"<{count} records>", args[1])
        return True


_LOGGERS = ("kafka.producer.kafka", "kafka.consumer.group")


def redact_kafka_records() -> None:
    """Install :class:`RecordValues` on kafka-python's loggers (once)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RecordValues) for f in logger.filters):
            logger.addFilter(RecordValues())


__all__ = ["RecordValues", "redact_kafka_records"]
