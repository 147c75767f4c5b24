"""The worker's consumer asks the broker to hold empty fetches briefly (see riskstream.stream.transport)."""

import asyncio

import faust
import pytest
from aiokafka import AIOKafkaConsumer

from riskstream.kafka.topics import Topics
from riskstream.stream import transport
from riskstream.stream.app import create_app


def worker_consumer(app: faust.App) -> AIOKafkaConsumer:
    """The aiokafka consumer the app's consumer thread would start (nothing is contacted)."""
    return app.consumer._thread._create_worker_consumer(app.transport)


async def discard(app: faust.App, consumer: AIOKafkaConsumer) -> None:
    await consumer.stop()
    app.consumer._thread.thread_loop.close()  # never started, so never closed by the thread


def test_a_worker_app_fetches_with_the_short_wait(tmp_path):
    async def build() -> tuple[type, int, int]:
        app = create_app("127.0.0.1:1", topics=Topics(), data_dir=tmp_path)
        consumer = worker_consumer(app)
        try:
            return type(app.transport), consumer._fetch_max_wait_ms, consumer._request_timeout_ms
        finally:
            await discard(app, consumer)

    kind, wait, request_timeout = asyncio.run(build())
    assert kind is transport.Transport
    assert wait == transport.FETCH_MAX_WAIT_MS == 20
    assert wait < request_timeout


def test_faust_alone_would_hold_fetches_for_1500_ms(tmp_path):
    """What the transport is for: without it Faust's consumer waits 1.5 s (if Faust changes that, revisit)."""
    async def build() -> int:
        app = faust.App("plain", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))
        consumer = worker_consumer(app)
        try:
            return consumer._fetch_max_wait_ms
        finally:
            await discard(app, consumer)

    assert asyncio.run(build()) == 1500


def test_a_renamed_aiokafka_setting_fails_loudly(monkeypatch, tmp_path):
    class Renamed:
        pass

    monkeypatch.setattr(transport.faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer",
                        lambda self, t: Renamed())
    app = faust.App("renamed", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))
    transport.install(app)
    try:
        with pytest.raises(RuntimeError, match="_fetch_max_wait_ms"):
            worker_consumer(app)
    finally:
        app.consumer._thread.thread_loop.close()
