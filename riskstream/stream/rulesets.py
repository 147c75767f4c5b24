"""Published rule sets in the worker: the decide engine switches to each at its effective event time.

Every worker reads the whole rules control topic itself (one partition, from
the beginning, in no consumer group): once, synchronously, when the app is
built - so decisions rebuilt from ``risk-signals`` after a restart use the
rule sets in force - and then as it grows.  A record is validated again on
arrival (:func:`riskstream.rules.published.parse_published`); a bad one, or
one whose windows differ from the running rules (:mod:`riskstream.engine.switch`),
is logged with the precise problems and ignored: the rule sets before it keep
deciding.

Only the decide stage decides, so only its engine switches; the screen,
entities and graph stages count what both rule sets count.  When a rule set
reaches a worker after some of the orders it covers were decided (its
effective time is "now", and orders were in flight), those orders are
concluded again and their new revisions published, so the last revision of
every order is the one replay gives with the recorded switch.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition

from ..decisions import Decision
from ..engine.switch import schedule_published
from ..kafka.control import read_control
from ..kafka.security import aiokafka_options
from ..rules import RuleFileError
from ..rules.published import PublishedRuleset, parse_published
from .stages import Decide
from .verdicts import publish_revisions

if TYPE_CHECKING:
    import faust

    from ..kafka.topics import Topics
    from .observe import Metrics

__all__ = ["RulesetStage", "install_rulesets"]

log = logging.getLogger("riskstream.rules")

FETCH_MS = 100


class RulesetStage:
    """Plain Python: schedules published rule sets on the decide engine, and finds the decided orders they cover."""

    def __init__(self, decide: Decide, metrics: "Metrics | None" = None):
        self.decide = decide
        self.metrics = metrics
        self.adopted: list[str] = []  # versions switched to, in arrival order
        self.refused = 0

    def take(self, raw: bytes, offset: int | None = None) -> list[Decision]:
        """One control record: its switch scheduled (or refused and logged); revisions of orders it covers."""
        try:
            published = parse_published(raw)
            if not schedule_published(self.decide.engine, published.role, published.ruleset, published.effective_ts):
                return []  # known already (read at boot, or published twice)
        except RuleFileError as exc:
            self.refused += 1
            if self.metrics is not None:
                self.metrics.rulesets_refused_total.inc()
            log.error("rule set at offset %s refused; the rules before it keep deciding:\n%s", offset, exc)
            return []
        self.adopted.append(f"{published.role} {published.version}")
        if self.metrics is not None:
            self.metrics.rulesets_adopted_total.inc()
        log.info("%s rule set %s from %s on", published.role, published.version, published.record["effective_at"])
        return self._again(published)

    def _again(self, published: PublishedRuleset) -> list[Decision]:
        done = self.decide.done
        if not done:
            return []
        covered = [order_id for order_id, pending in done.items() if pending.decision is not None
                   and self.decide.view_of(pending).event.ts >= published.effective_ts]
        return self.decide.run((), (), again=covered) if covered else []


def install_rulesets(app: "faust.App", bootstrap: str, topics: "Topics", decide: Decide, ready: asyncio.Event,
                     metrics: "Metrics") -> RulesetStage:
    """Read the rules topic now (boot) and follow it in a task that publishes the revisions a switch causes."""
    stage = RulesetStage(decide, metrics)

    next_offset = 0
    try:
        for _, value, offset in read_control(bootstrap, topics.rules):
            stage.take(value, offset)
            next_offset = offset + 1
    except Exception as exc:  # no topic yet: nothing was ever published
        log.info("rules topic %s not read at boot (%s): the worker's own rules decide", topics.rules, exc)

    @app.task
    async def follow_rulesets() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=FETCH_MS,
                                    **aiokafka_options())
        await consumer.start()
        partition = TopicPartition(topics.rules, 0)
        consumer.assign([partition])
        consumer.seek(partition, next_offset)
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=FETCH_MS, max_records=10)
                if not batch:
                    continue
                await ready.wait()
                revisions: list[Decision] = []
                for records in batch.values():
                    for record in records:
                        revisions.extend(stage.take(record.value or b"", record.offset))
                if revisions:
                    await publish_revisions(app, topics, metrics, list({d.order_id: d for d in revisions}.values()))
        finally:
            await consumer.stop()

    return stage
