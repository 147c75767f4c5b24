"""The Kafka topic catalogue, topic creation, and client settings for real clusters.

==============  ==========================  ==========  =================================================
topic           environment variable        partitions  holds
==============  ==========================  ==========  =================================================
orders          RISKSTREAM_TOPIC_ORDERS     6           order events, keyed by account id
risk-decisions  RISKSTREAM_TOPIC_DECISIONS  6           every decision, keyed by order id
risk-review     RISKSTREAM_TOPIC_REVIEW     6           flagged decisions (the reviewers' queue)
orders-dlq      RISKSTREAM_TOPIC_DLQ        1           bad events with the reason and the original bytes
risk-verdicts   RISKSTREAM_TOPIC_VERDICTS   3           reviewers' verdicts, keyed by verdict id (compacted)
risk-rules      RISKSTREAM_TOPIC_RULES      1           published rule sets, keyed by role: live, shadow (compacted)
==============  ==========================  ==========  =================================================

``RISKSTREAM_PARTITIONS`` sets one partition count for the three high-volume keyed
topics (orders, decisions, review); workers scale out up to that many instances.

Client settings for a production cluster (read by :func:`kafka_client_options`, see
:mod:`riskstream.kafka.security` for aiokafka and Faust):

===================================  ==========================================================
environment variable                 kafka-python keyword
===================================  ==========================================================
RISKSTREAM_BOOTSTRAP                 ``bootstrap_servers`` (default ``127.0.0.1:9092``)
RISKSTREAM_KAFKA_SECURITY_PROTOCOL   ``security_protocol``: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
RISKSTREAM_KAFKA_SASL_MECHANISM      ``sasl_mechanism``: SCRAM-SHA-512 (with SASL), SCRAM-SHA-256, PLAIN
RISKSTREAM_KAFKA_SASL_USERNAME       ``sasl_plain_username``
RISKSTREAM_KAFKA_SASL_PASSWORD       ``sasl_plain_password``
RISKSTREAM_KAFKA_SSL_CAFILE          ``ssl_context`` trusting this CA bundle (PEM) that signed the brokers' certificates
===================================  ==========================================================
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..settings import SECURITY_PROTOCOLS
from .security import explained, kafka_client_options

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

_NAME_ENV = {
    "orders": "RISKSTREAM_TOPIC_ORDERS",
    "decisions": "RISKSTREAM_TOPIC_DECISIONS",
    "review": "RISKSTREAM_TOPIC_REVIEW",
    "dlq": "RISKSTREAM_TOPIC_DLQ",
    "verdicts": "RISKSTREAM_TOPIC_VERDICTS",
    "rules": "RISKSTREAM_TOPIC_RULES",
}
_PARTITIONS_ENV = "RISKSTREAM_PARTITIONS"



@dataclass(frozen=True)
class Topics:
    """Topic names and partition counts.  ``Topics()`` is the default catalogue;
    :meth:`from_env` applies the ``RISKSTREAM_TOPIC_*`` and ``RISKSTREAM_PARTITIONS``
    overrides; ``Topics(orders="orders-test", ...)`` overrides in code."""

    orders: str = "orders"
    decisions: str = "risk-decisions"
    review: str = "risk-review"
    dlq: str = "orders-dlq"
    verdicts: str = "risk-verdicts"
    rules: str = "risk-rules"  #: one partition: every worker reads the rule sets in publish order
    partitions: int = 6  #: orders, decisions and review
    dlq_partitions: int = 1
    verdicts_partitions: int = 3

    def __post_init__(self) -> None:
        for name in _NAME_ENV:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"topic name for {name!r} must be a non-empty string, got {value!r}")
        for name in ("partitions", "dlq_partitions", "verdicts_partitions"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Topics:
        """The catalogue with environment overrides; keyword ``overrides`` win over both."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, variable in _NAME_ENV.items():
            if env.get(variable, "").strip():
                values[name] = env[variable].strip()
        raw = env.get(_PARTITIONS_ENV, "").strip()
        if raw:
            try:
                values["partitions"] = int(raw)
            except ValueError:
                raise ValueError(f"{_PARTITIONS_ENV} must be an integer >= 1, got {raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def partition_counts(self) -> dict[str, int]:
        """``{topic name: partitions}`` for every topic of the catalogue, in catalogue order."""
        return {
            self.orders: self.partitions,
            self.decisions: self.partitions,
            self.review: self.partitions,
            self.dlq: self.dlq_partitions,
            self.verdicts: self.verdicts_partitions,
            self.rules: 1,
        }

    def names(self) -> list[str]:
        return list(self.partition_counts())

    def topic_configs(self) -> dict[str, dict[str, str]]:
        """Per-topic settings at creation: verdicts are compacted, so a worker that starts
        reads every verdict from the beginning (each kept once, by verdict id); so are the
        published rule sets (the last of each role is kept)."""
        return {self.verdicts: {"cleanup.policy": "compact"}, self.rules: {"cleanup.policy": "compact"}}


def default_bootstrap(environ: Mapping[str, str] | None = None) -> str:
    """``RISKSTREAM_BOOTSTRAP``, else ``127.0.0.1:9092`` (the local development broker)."""
    env = os.environ if environ is None else environ
    return env.get("RISKSTREAM_BOOTSTRAP", "").strip() or DEFAULT_BOOTSTRAP


def _admin(bootstrap: str, options: Mapping[str, Any] | None):
    from kafka import KafkaAdminClient

    settings = kafka_client_options() if options is None else dict(options)
    return explained(lambda: KafkaAdminClient(bootstrap_servers=bootstrap, client_id="riskstream-admin", **settings),
                     bootstrap)


def ensure_topics(
    bootstrap: str,
    topics: Topics,
    replication: int = 1,
    *,
    options: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create the catalogue's missing topics; return the names created (``[]`` when all exist).

    Existing topics are left as they are, whatever their partition count (see
    :func:`describe_partitions`).  Safe to run concurrently: a topic another
    client created meanwhile counts as existing.  Returns once every partition of
    the created topics has a leader, so producers can start right away.
    ``options`` are extra kafka-python settings (default: :func:`kafka_client_options`).
    """
    return create_missing(bootstrap, topics.partition_counts(), replication, configs=topics.topic_configs(),
                          options=options, timeout=timeout)


def create_missing(
    bootstrap: str,
    wanted: Mapping[str, int],
    replication: int = 1,
    *,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    options: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create the missing topics of ``{name: partitions}`` (with per-topic ``configs``)."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    if replication < 1:
        raise ValueError(f"replication must be >= 1, got {replication}")
    admin = _admin(bootstrap, options)
    try:
        existing = set(admin.list_topics())
        created = []
        for name, partitions in wanted.items():
            if name in existing:
                continue
            topic_configs = dict((configs or {}).get(name, {}))
            try:
                admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=replication,
                                              topic_configs=topic_configs)])
            except TopicAlreadyExistsError:
                continue
            created.append(name)
        if created:
            _wait_for_leaders(admin, {name: wanted[name] for name in created}, timeout)
        return created
    finally:
        admin.close()


def delete_topics_containing(bootstrap: str, token: str, *, options: Mapping[str, Any] | None = None) -> list[str]:
    """Delete every topic whose name contains ``token`` (a benchmark's run id); the names deleted.

    Benchmarks make fresh topics per run; without this each run's data would
    stay on the broker's disk for the topics' whole retention."""
    if len(token) < 6:
        raise ValueError(f"refusing to delete topics by a token this short: {token!r}")
    admin = _admin(bootstrap, options)
    try:
        names = sorted(name for name in admin.list_topics() if token in name)
        if names:
            admin.delete_topics(names)
        return names
    finally:
        admin.close()


def describe_partitions(
    bootstrap: str, names: Iterable[str] | Topics, *, options: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """``{topic: partition count}`` for those of ``names`` that exist (missing ones are left out)."""
    admin = _admin(bootstrap, options)
    try:
        return _partition_counts(admin, names.names() if isinstance(names, Topics) else list(names))
    finally:
        admin.close()


def _partition_counts(admin, names: list[str], *, with_leader: bool = False) -> dict[str, int]:
    found = {}
    for topic in admin.describe_topics(names):
        if topic["error_code"] != 0:
            continue
        partitions = topic["partitions"]
        if with_leader:
            partitions = [p for p in partitions if p["error_code"] == 0 and p["leader"] >= 0]
        found[topic["topic"]] = len(partitions)
    return {name: found[name] for name in names if name in found}


def _wait_for_leaders(admin, wanted: dict[str, int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ready = _partition_counts(admin, list(wanted), with_leader=True)
        if all(ready.get(name, 0) >= count for name, count in wanted.items()):
            return
        if time.monotonic() > deadline:
            waiting = sorted(name for name, count in wanted.items() if ready.get(name, 0) < count)
            raise TimeoutError(f"topics created but partitions without a leader after {timeout:g}s: {', '.join(waiting)}")
        time.sleep(0.1)


__all__ = [
    "DEFAULT_BOOTSTRAP",
    "SECURITY_PROTOCOLS",
    "Topics",
    "default_bootstrap",
    "delete_topics_containing",
    "describe_partitions",
    "ensure_topics",
    "kafka_client_options",
]
