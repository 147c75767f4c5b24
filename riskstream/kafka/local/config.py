"""Broker, logging and JVM settings for the single-node development broker."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

HOST = "127.0.0.1"
NODE_ID = 1

# Single node, combined broker + controller (KRaft). Topics are created
# explicitly: the project declares its own topics and Faust creates its
# internal ones through the admin API, so auto-creation stays off and a
# mistyped topic name fails instead of silently becoming a 1-partition topic.
BROKER_DEFAULTS: dict[str, str] = {
    "process.roles": "broker,controller",
    "node.id": str(NODE_ID),
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "auto.create.topics.enable": "false",
    "delete.topic.enable": "true",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "10",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "10",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "num.network.threads": "2",
    "num.io.threads": "4",
    "num.recovery.threads.per.data.dir": "1",
    "log.retention.hours": "24",
    "log.retention.bytes": str(512 * 1024 * 1024),
    "log.segment.bytes": str(64 * 1024 * 1024),
    "log.retention.check.interval.ms": "60000",
    "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
}

# Keys only some Kafka lines know; the others log a warning for unknown keys.
_ONLY_FROM_MAJOR = {
    "share.coordinator.state.topic.replication.factor": 4,
    "share.coordinator.state.topic.min.isr": 4,
}

JVM_OPTIONS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]

_LOG4J1 = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
"""

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.clients.name = org.apache.kafka.clients
logger.clients.level = warn
"""


def broker_properties(
    port: int,
    controller_port: int,
    log_dir: Path,
    major: int,
    overrides: dict[str, str] | None = None,
) -> dict[str, str]:
    """All broker settings for a node listening on ``127.0.0.1:port``."""
    props = {
        key: value
        for key, value in BROKER_DEFAULTS.items()
        if major >= _ONLY_FROM_MAJOR.get(key, 0)
    }
    props.update(
        {
            "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
            "controller.quorum.voters": f"{NODE_ID}@{HOST}:{controller_port}",
            "log.dirs": str(log_dir),
        }
    )
    props.update(overrides or {})
    return props


def render_properties(props: dict[str, str]) -> str:
    """Java ``.properties`` text (values here never need escaping beyond ``\\``)."""
    lines = [
        "# Written by riskstream.localkafka on every start; edits are overwritten."
    ]
    lines += [
        f"{key}={str(value).replace(chr(92), chr(92) * 2)}"
        for key, value in props.items()
    ]
    return "\n".join(lines) + "\n"


def logging_config(major: int) -> tuple[str, str]:
    """``(file name, content)`` of the console logging config for a Kafka line."""
    return (
        ("log4j2.properties", _LOG4J2) if major >= 4 else ("log4j.properties", _LOG4J1)
    )


def logging_jvm_flag(major: int, path: Path) -> str:
    """The system property pointing the broker at its logging config."""
    if major >= 4:
        return f"-Dlog4j2.configurationFile={path}"
    return f"-Dlog4j.configuration=file:{path}"


def random_cluster_id() -> str:
    """A Kafka-style cluster id: 16 random bytes, URL-safe base64, no padding."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):
            return value


def read_meta_cluster_id(log_dir: Path) -> str | None:
    """Cluster id recorded by ``kafka-storage format`` in ``meta.properties``."""
    meta = log_dir / "meta.properties"
    if not meta.is_file():
        return None
    for line in meta.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    return None
