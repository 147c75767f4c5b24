"""Rebuilding a worker's state from its own inputs when partitions are assigned.

Every stage's state is a function of what it consumed: the order ids it
screened, the touches it counted, the plans and signals it collected.  So a
worker that starts (after a crash, a SIGKILL, or a rebalance that hands it
partitions) reads each newly assigned partition from its start up to the
group's committed offset and feeds the stage in *restore* mode: state is
rebuilt, nothing is published.  Processing then resumes at the committed
offset as usual; anything between that offset and what was published before
the crash is processed again, and the stages' idempotence (order ids, touch
ids, concluded orders) makes that harmless.

Topics keep their data for longer than the longest window plus the grace, so
everything a window needs is still there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaAdminClient

from ..kafka.security import aiokafka_options, kafka_client_options

log = logging.getLogger("riskstream.recovery")

Restorer = Callable[[list[bytes]], None]  # called with consecutive chunks of a partition, in order
CHUNK = 25  # messages fed to a restorer at a time (a touches message holds thousands of touches)


async def restore_assigned(
    bootstrap: str,
    group_id: str,
    assigned: Iterable[TopicPartition],
    restorers: dict[str, Restorer],
    *,
    client_options: dict | None = None,
) -> dict[str, int]:
    """Feed every assigned partition of a restorable topic, up to its committed offset."""
    wanted = [TopicPartition(tp.topic, tp.partition) for tp in assigned if tp.topic in restorers]
    counts: dict[str, int] = {}
    if not wanted:
        return counts
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    # The cluster's security settings (RISKSTREAM_KAFKA_*) unless ``client_options`` are given.
    admin_options = kafka_client_options() if client_options is None else client_options
    offsets = await loop.run_in_executor(None, committed_offsets, bootstrap, group_id, admin_options)
    todo = [(tp, offsets[(tp.topic, tp.partition)]) for tp in wanted if offsets.get((tp.topic, tp.partition))]
    if not todo:
        return counts
    # No group id: this reader must not join (or disturb) the workers' group.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                **(aiokafka_options() if client_options is None else client_options))
    await consumer.start()
    try:
        for tp, committed in todo:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            restored = 0
            while await consumer.position(tp) < committed:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=CHUNK)
                values = [record.value for record in batch.get(tp, ()) if record.offset < committed]
                if values:
                    # In order, a chunk at a time, letting the event loop run in
                    # between: a long rebuild must not starve heartbeats and
                    # timers (a worker that misses them leaves its group).
                    restorers[tp.topic](values)
                    restored += len(values)
                    await asyncio.sleep(0)
            counts[f"{tp.topic}:{tp.partition}"] = restored
    finally:
        await consumer.stop()
    if counts:
        log.info("restored state from %d messages in %.1fs: %s", sum(counts.values()), time.monotonic() - started, counts)
    return counts


def committed_offsets(bootstrap: str, group_id: str, client_options: dict) -> dict[tuple[str, int], int]:
    """The group's committed offsets, read with the admin API (which joins nothing)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **client_options)
    try:
        found = admin.list_consumer_group_offsets(group_id)
    finally:
        admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in found.items() if meta.offset >= 0}
