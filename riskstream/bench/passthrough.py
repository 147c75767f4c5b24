"""A bare aiokafka consume-and-produce loop: the yardstick for ``riskstream bench stream``.

It copies every record of one topic to another (same key, same value) with the
same delivery discipline as a worker - a batch's output is acknowledged by the
broker before the batch's offsets are committed - and no other work.  What a
worker achieves beside it is the cost of deciding.

    python -m riskstream.bench.passthrough --bootstrap 127.0.0.1:9092 --source orders --target copy
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def pass_through(bootstrap: str, source: str, target: str, group: str) -> None:
    consumer = AIOKafkaConsumer(
        source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False, max_poll_records=1000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            sent = [
                await producer.send(target, key=record.key, value=record.value)
                for records in batches.values()
                for record in records
            ]
            if sent:
                await asyncio.gather(*sent)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--group", default="riskstream-passthrough")
    args = parser.parse_args()
    asyncio.run(pass_through(args.bootstrap, args.source, args.target, args.group))


if __name__ == "__main__":
    main()
