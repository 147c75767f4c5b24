"""The workers' Kafka transport: Faust's aiokafka transport with a short fetch wait.

Faust creates its consumer with ``fetch_max_wait_ms=1500`` and offers no
setting for it.  The broker holds a fetch up to that long when none of the
partitions in the request has new records, and aiokafka leaves out of a
request every partition whose fetched records the worker has not consumed
yet, sending one request at a time per broker.  So when a stage falls
behind for a moment, the next request may name only quiet partitions, and
orders arriving meanwhile on the others wait for it to come back: up to
1.5 s at every hop an order makes.  Under load the stalls fed on each
other: the stages sat idle for 1.4 s at a time while orders waited.

One worker, 30,000 simulated orders published at 1,500/s (4 partitions,
the shipped rules): p99 latency 5.9-7.4 s (median 6.2 s of 5 runs) with
Faust's wait, 1.2-6.0 s (median 2.3 s of 6 runs) with 20 ms.  At 1,000/s,
where the worker keeps up, both gave p99 0.34-0.75 s.  An idle worker now
sends about 50 empty fetches a second, which costs next to nothing.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

#: How long the broker may hold a worker's fetch that finds no new records (ms).
FETCH_MAX_WAIT_MS = 20


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        if not hasattr(consumer, "_fetch_max_wait_ms"):  # aiokafka renamed it: fail loudly, not slowly
            raise RuntimeError("aiokafka's consumer has no _fetch_max_wait_ms; update riskstream.stream.transport")
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts its fetcher
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """Faust's ``kafka://`` transport, whose consumer waits at most :data:`FETCH_MAX_WAIT_MS`."""

    Consumer = _Consumer


def install(app: Any) -> None:
    """Give ``app`` this transport (before anything asks for its consumer)."""
    app.transport = Transport(app.conf.broker_consumer, app)
