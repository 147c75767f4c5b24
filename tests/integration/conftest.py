"""Integration fixtures: one real Kafka broker (KRaft) for the whole test session.

The broker runs from the project's jar cache (``.cache/kafka``; resolved with
Maven on first use) on free ports, with a throw-away data directory under
``var/pytest-kafka``. If it cannot start, the fixture fails with the broker's
log tail; nothing is skipped.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from riskstream.kafka.local import LocalKafka, LocalKafkaError

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCRATCH = ROOT / "var" / "pytest-kafka"


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Everything under tests/integration carries the ``integration`` marker."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that are free on 127.0.0.1 right now."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def scratch_dir(prefix: str) -> Path:
    """A fresh directory under ``var/pytest-kafka``."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=SCRATCH))


def _progress(message: str) -> None:
    """Progress sink for brokers started by tests (pytest shows it on failure)."""
    print(message)


def _running_broker(prefix: str, **kwargs) -> Iterator[LocalKafka]:
    """A broker on free ports in a fresh scratch directory, up until the generator closes."""
    port, controller_port = free_ports(2)
    data_dir = scratch_dir(prefix)
    broker = LocalKafka(
        root=ROOT,
        port=port,
        controller_port=controller_port,
        data_dir=data_dir,
        log=_progress,
        **kwargs,
    )
    try:
        broker.up(timeout=180)
        error = None
    except LocalKafkaError as exc:
        error = exc
    if error is not None:
        pytest.fail(
            f"local Kafka broker did not start (data dir kept: {data_dir}):\n{error}",
            pytrace=False,
        )
    try:
        yield broker
    finally:
        broker.down()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def local_kafka() -> Iterator[LocalKafka]:
    """The session's running broker."""
    yield from _running_broker("session-")


@pytest.fixture(scope="module")
def secure_kafka() -> Iterator[LocalKafka]:
    """A broker of its own listening with SASL_SSL only (``riskstream kafka up --secure``)."""
    yield from _running_broker("secure-", secure=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(local_kafka: LocalKafka) -> str:
    """``127.0.0.1:PORT`` of the session's broker."""
    return local_kafka.bootstrap


@pytest.fixture
def make_local_kafka() -> Iterator[Callable[..., LocalKafka]]:
    """Factory for extra, not yet started brokers on free ports; stopped and removed after the test."""
    made: list[LocalKafka] = []

    def make(**kwargs) -> LocalKafka:
        if "port" not in kwargs:
            kwargs["port"], kwargs["controller_port"] = free_ports(2)
        elif "controller_port" not in kwargs:
            kwargs["controller_port"] = free_ports(1)[0]
        if "data_dir" not in kwargs:
            kwargs["data_dir"] = scratch_dir("extra-")
        kwargs.setdefault("heap", "256m")
        kwargs.setdefault("log", _progress)
        broker = LocalKafka(root=ROOT, **kwargs)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.down()
        shutil.rmtree(broker.data_dir, ignore_errors=True)
