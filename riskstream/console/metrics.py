"""The console's Prometheus metrics (``GET /metrics``), in a registry of its own.

================================================  ============================================================
series                                            what
================================================  ============================================================
``riskstream_console_queue_depth{status,outcome}``  cases waiting (open or escalated), by their strongest outcome;
                                                  read from the case store at each scrape
``riskstream_console_sla_breached``               open held (or frozen) cases past their SLA
``riskstream_console_verdicts_total{action}``     verdicts in the case store, by action (store-wide: every
                                                  console over the same store reports the same count)
``riskstream_console_time_to_verdict_seconds``    histogram: from a case's opening to the verdict that closed
                                                  or escalated it, for the verdicts this console published
``riskstream_console_ingest_lag{topic}``          records of ``risk-review`` / ``risk-decisions`` the case
                                                  ingest's consumer group has not committed yet (from Kafka,
                                                  sampled at most every ``lag_every`` seconds)
``riskstream_console_ingest_age_seconds``         seconds since the case store last changed a case (ingest or
                                                  verdict): a stalled ingest shows as a growing age
``riskstream_console_scrape_errors_total{part}``  a part that could not be read at a scrape (store or lag)
================================================  ============================================================

Every action has a ``verdicts_total`` series from the start (0 until the first).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from ..decisions import Outcome
from ..verdicts import VerdictAction
from .models import Case, VerdictRow
from .store import CaseStore

log = logging.getLogger("riskstream.console")

#: time to verdict buckets (seconds): 30 s .. 1 day
VERDICT_BUCKETS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)
LAG_EVERY = 10.0  #: seconds between two samples of the ingest's consumer lag
WAITING = ("open", "escalated")

LagReader = Callable[[], Mapping[str, int]]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)  # SQLite drops the zone


def kafka_lag(bootstrap: str, group: str, topics: list[str]) -> LagReader:
    """A reader of ``group``'s lag per topic (end offsets minus committed offsets; a partition never committed
    counts from its first offset)."""
    from ..kafka.topics import kafka_client_options

    def read() -> dict[str, int]:
        from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

        options = kafka_client_options()
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="riskstream-console-lag", **options)
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                 client_id="riskstream-console-lag", **options)
        try:
            committed = {tp: meta.offset for tp, meta in _group_offsets(admin, group).items()}
            partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
            ends = consumer.end_offsets(partitions)
            starts = consumer.beginning_offsets(partitions)
            lag = dict.fromkeys(topics, 0)
            for tp in partitions:
                done = committed.get(tp, -1)
                lag[tp.topic] += max(0, ends[tp] - (done if done >= 0 else starts[tp]))
            return lag
        finally:
            consumer.close()
            admin.close()

    return read


def _group_offsets(admin, group: str, tries: int = 10):
    """The group's committed offsets; a broker still making its offsets topic (coordinator not available)
    is asked again for a few seconds."""
    from kafka.errors import CoordinatorNotAvailableError

    for attempt in range(tries):
        try:
            return admin.list_consumer_group_offsets(group)
        except CoordinatorNotAvailableError:
            if attempt == tries - 1:
                raise
            time.sleep(0.5)
    return {}


class ConsoleMetrics:
    """The console's series; the store-backed ones are read at each scrape."""

    def __init__(self, store: CaseStore, *, sla_minutes: float, lag: LagReader | None = None,
                 lag_every: float = LAG_EVERY):
        self.store = store
        self.sla_minutes = sla_minutes
        self.registry = CollectorRegistry(auto_describe=True)
        self._lag = lag
        self._lag_every = lag_every
        self._lag_value: Mapping[str, int] | None = None
        self._lag_at = float("-inf")
        self._lag_lock = threading.Lock()
        self.registry.register(_StoreCollector(self))  # first: its errors of this scrape are counted below
        self.time_to_verdict = Histogram(
            "riskstream_console_time_to_verdict_seconds",
            "From a case's opening to the verdict that closed or escalated it (verdicts this console published).",
            buckets=VERDICT_BUCKETS, registry=self.registry)
        self.scrape_errors = Counter("riskstream_console_scrape_errors", "Parts of a scrape that could not be read.",
                                     ["part"], registry=self.registry)
        for part in ("store", "lag"):
            self.scrape_errors.labels(part)

    def observe_verdict(self, opened_at: datetime, at: datetime | None = None) -> None:
        at = at or datetime.now(timezone.utc)
        self.time_to_verdict.observe(max(0.0, (_aware(at) - _aware(opened_at)).total_seconds()))

    def lag(self) -> Mapping[str, int] | None:
        """The last lag sample, refreshed when older than ``lag_every``; ``None`` without a reader or on error."""
        if self._lag is None:
            return None
        with self._lag_lock:
            now = time.monotonic()
            if now - self._lag_at >= self._lag_every:
                self._lag_at = now
                try:
                    self._lag_value = dict(self._lag())
                except Exception as exc:  # a broker away must not break the scrape
                    log.warning("console metrics: ingest lag not read: %r", exc)
                    self.scrape_errors.labels("lag").inc()
                    self._lag_value = None
            return self._lag_value

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StoreCollector:
    def __init__(self, metrics: ConsoleMetrics):
        self.metrics = metrics

    def describe(self):
        return []  # read at scrape time only

    def collect(self):
        metrics = self.metrics
        depth = GaugeMetricFamily("riskstream_console_queue_depth", "Cases waiting for a verdict, by status and "
                                  "strongest outcome.", labels=["status", "outcome"])
        breached = GaugeMetricFamily("riskstream_console_sla_breached", "Open held or frozen cases past their SLA.")
        verdicts = CounterMetricFamily("riskstream_console_verdicts", "Verdicts in the case store, by action.",
                                       labels=["action"])
        age = GaugeMetricFamily("riskstream_console_ingest_age_seconds",
                                "Seconds since the case store last changed a case.")
        try:
            from .queue import sla_cutoff

            with metrics.store.session() as db:
                counts = dict(((s, int(o)), n) for s, o, n in db.execute(
                    select(Case.status, Case.outcome, func.count()).where(Case.status.in_(WAITING),
                                                                          Case.orders_count > 0)
                    .group_by(Case.status, Case.outcome)))
                late = db.scalar(select(func.count()).select_from(Case).where(
                    Case.status == "open", Case.orders_count > 0, Case.outcome >= int(Outcome.HOLD),
                    Case.opened_at < sla_cutoff(metrics.sla_minutes))) or 0
                by_action = dict(db.execute(select(VerdictRow.action, func.count()).group_by(VerdictRow.action)).all())
                newest = db.scalar(select(func.max(Case.updated_at)))
        except Exception as exc:
            log.warning("console metrics: case store not read: %r", exc)
            metrics.scrape_errors.labels("store").inc()
        else:
            for status in WAITING:
                for outcome in Outcome:
                    if outcome.flagged:
                        depth.add_metric([status, outcome.label], counts.get((status, int(outcome)), 0))
            breached.add_metric([], late)
            for action in VerdictAction:
                verdicts.add_metric([action.value], by_action.get(action.value, 0))
            yield depth
            yield breached
            yield verdicts
            if newest is not None:
                age.add_metric([], max(0.0, (datetime.now(timezone.utc) - _aware(newest)).total_seconds()))
                yield age
        lag = metrics.lag()
        if lag is not None:
            family = GaugeMetricFamily("riskstream_console_ingest_lag", "Records the case ingest has not committed "
                                       "yet, by topic.", labels=["topic"])
            for topic, value in sorted(lag.items()):
                family.add_metric([topic], value)
            yield family


__all__ = ["ConsoleMetrics", "LAG_EVERY", "VERDICT_BUCKETS", "kafka_lag"]
