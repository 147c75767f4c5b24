"""Reviewers' verdicts in the worker: every verdict in the decide stage's lists, and the revisions they cause.

Every worker reads the whole ``risk-verdicts`` topic itself (every partition,
from the beginning, in no consumer group): the lists must be complete on every
decide partition, and the topic is compacted by verdict id, so re-reading it
when a worker starts is the state that survives restarts.  Filing is
idempotent by verdict id.

* A new verdict is filed in the decide engine's lists (:class:`VerdictStage`);
  the decided orders it covers are concluded again, and those whose decision
  changed are published to ``risk-decisions`` (and ``risk-review`` when
  flagged) with a higher revision - within a fetch of the verdict.
* While a worker rebuilds its decide state from ``risk-signals`` the lists are
  suspended, so the rebuilt decisions are those published before any verdict;
  after the rebuild the verdicts on the topic are read up to its end and the
  orders they touch are concluded again and published.  A restart may so
  publish a verdict's revision again (same content, deterministic), never lose it.
* Bad verdict records go to the dead-letter topic with the reason: a small
  agent in the workers' group checks each ``risk-verdicts`` partition once.

Limits: only orders the decide stage still keeps (its last ``Decide.keep``
concluded orders, 200,000 by default) can be revised live; an older order a
verdict names keeps its decision (replay, which keeps every named order,
revises it).  Lists keep every verdict, expired ones included.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Awaitable, Callable, Iterable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from ..decisions import Decision
from ..kafka.security import aiokafka_options
from ..kafka.topics import describe_partitions
from ..verdicts import Verdict, VerdictError, parse_verdict
from .stages import DeadLetter, Decide

if TYPE_CHECKING:
    import faust

    from ..kafka.topics import Topics
    from .observe import Metrics

__all__ = ["VerdictFeed", "VerdictStage", "install_verdicts", "publish_revisions"]

log = logging.getLogger("riskstream.verdicts")

FETCH_MS = 100  # longest wait for new verdicts per fetch


class VerdictStage:
    """Plain Python: files verdicts in the decide engine's lists and finds the decided orders they change."""

    def __init__(self, decide: Decide):
        self.decide = decide
        self.filed = 0

    @property
    def lists(self):
        """The decide engine's lists (read through the stage: a new rule set brings a new engine)."""
        return self.decide.engine.verdicts

    def file(self, verdicts: Iterable[Verdict]) -> list[Decision]:
        """File new verdicts; the new revisions of decided orders they cover."""
        engine = self.decide.engine
        new = [v for v in verdicts if engine.add_verdict(v)]
        self.filed += len(new)
        if not new:
            return []
        done = self.decide.done
        again = [order_id for v in new for order_id in v.orders if order_id in done]
        accounts = {a for v in new for a in v.accounts}
        entities = {(e.kind, e.key) for v in new for e in v.entities}
        if accounts or entities:
            for order_id, pending in done.items():
                if pending.plan is None or not self._may_cover(pending.plan, accounts, entities):
                    continue
                view = self.decide.view_of(pending)
                if any(self.lists.covers(v, view) for v in new):
                    again.append(order_id)
        return self.decide.run((), (), again=again)

    @staticmethod
    def _may_cover(plan: dict, accounts: set[str], entities: set[tuple[str, str]]) -> bool:
        """A quick look at a decided order before its view is built: its account, or the entity
        pseudonyms the screen computed for it (a kind it did not compute might match)."""
        if plan["order"]["account_id"] in accounts:
            return True
        keys = plan.get("keys", {})
        return any(kind not in keys or keys[kind] == key for kind, key in entities)

    def sweep(self) -> list[Decision]:
        """Conclude again every decided order the lists touch (after decisions were rebuilt without them)."""
        if not self.lists:
            return []
        again = []
        for order_id, pending in self.decide.done.items():
            order = pending.plan["order"] if pending.plan is not None else None
            if order is None or not self.lists.may_affect(order_id, order["account_id"], pending.plan.get("keys", {})):
                continue
            if self.lists.judge(self.decide.view_of(pending), []):
                again.append(order_id)
        return self.decide.run((), (), again=again)


class VerdictFeed:
    """The whole verdicts topic, read without joining any group: up to its end after each rebuild, then as it grows."""

    def __init__(self, bootstrap: str, topic: str, stage: VerdictStage):
        self.bootstrap = bootstrap
        self.topic = topic
        self.stage = stage
        self.consumer: AIOKafkaConsumer | None = None
        self.partitions: list[TopicPartition] = []
        self.lock = asyncio.Lock()
        self.bad = 0  # records that are not verdicts (the group's checker dead-letters them)

    async def _consumer(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                        fetch_max_wait_ms=FETCH_MS, **aiokafka_options())
            await consumer.start()
            loop = asyncio.get_running_loop()
            counts = await loop.run_in_executor(None, describe_partitions, self.bootstrap, [self.topic])
            if not counts.get(self.topic):
                await consumer.stop()
                raise RuntimeError(f"verdicts topic {self.topic!r} not found on {self.bootstrap}")
            self.partitions = [TopicPartition(self.topic, p) for p in range(counts[self.topic])]
            consumer.assign(self.partitions)
            await consumer.seek_to_beginning(*self.partitions)
            self.consumer = consumer
        return self.consumer

    async def catch_up(self, sweep: bool) -> list[Decision]:
        """Read to the topic's end as it is now; the revisions to publish (``sweep``: decisions were rebuilt)."""
        async with self.lock:
            consumer = await self._consumer()
            ends = await consumer.end_offsets(self.partitions)
            revisions: list[Decision] = []
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                revisions.extend(self.stage.file(self._verdicts(await consumer.getmany(timeout_ms=FETCH_MS))))
            if sweep:
                revisions.extend(self.stage.sweep())
            return _last_each(revisions)

    async def next(self) -> list[Decision]:
        """Wait (briefly) for new verdicts; the revisions they cause."""
        async with self.lock:
            consumer = await self._consumer()
            batch = await consumer.getmany(timeout_ms=FETCH_MS, max_records=500)
            return _last_each(self.stage.file(self._verdicts(batch))) if batch else []

    def _verdicts(self, batch: dict) -> list[Verdict]:
        out = []
        for records in batch.values():
            for record in records:
                try:
                    out.append(parse_verdict(record.value or b""))
                except VerdictError:
                    self.bad += 1  # dead-lettered once by the group's checker (see install_verdicts)
        return out

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None


def _last_each(decisions: list[Decision]) -> list[Decision]:
    """Each order's last new revision only (a batch of verdicts may revise one order twice)."""
    last = {d.order_id: d for d in decisions}
    return list(last.values())


def install_verdicts(app: "faust.App", bootstrap: str, topics: "Topics", decide: Decide, ready: asyncio.Event,
                     restorers: dict, signal_topic: str, metrics: "Metrics") -> Callable[[], Awaitable[None]]:
    """Wire verdicts into a worker app; returns the coroutine function to await after each state rebuild.

    Wraps the ``risk-signals`` restorer so that rebuilt decisions ignore the
    lists, adds the follow task, the dead-letter checker agent and the shutdown."""
    stage = VerdictStage(decide)
    feed = VerdictFeed(bootstrap, topics.verdicts, stage)
    rebuilt = [False]
    restore_signals = restorers[signal_topic]

    def restore_without_verdicts(values: list[bytes]) -> None:
        rebuilt[0] = True
        stage.lists.suspended = True
        try:
            restore_signals(values)
        finally:
            stage.lists.suspended = False

    restorers[signal_topic] = restore_without_verdicts

    async def after_rebuild() -> None:
        revisions = await feed.catch_up(sweep=rebuilt[0])
        rebuilt[0] = False
        await publish_revisions(app, topics, metrics, revisions)

    @app.task
    async def follow_verdicts() -> None:
        unsent: list[Decision] = []  # revisions made but not yet delivered: filing again would not remake them
        while True:
            await ready.wait()
            try:
                unsent = _last_each(unsent + await feed.next())
                if unsent:
                    log.info("verdicts revised %d decisions", len(unsent))
                    await publish_revisions(app, topics, metrics, unsent)
                    unsent = []
            except asyncio.CancelledError:
                raise
            except Exception:  # a broker hiccup must not end verdicts for this worker: read on
                log.exception("reading or applying verdicts failed; retrying in a second")
                await asyncio.sleep(1.0)

    verdicts = app.topic(topics.verdicts, partitions=topics.verdicts_partitions, key_serializer="raw",
                         value_serializer="raw")
    dlq = app.topic(topics.dlq, key_serializer="raw", value_serializer="raw")

    @app.agent(verdicts, concurrency=1)
    async def check_verdicts(stream) -> None:
        async for event in stream.events():
            raw = event.value or b""
            try:
                parse_verdict(raw)
            except VerdictError as exc:
                dead = DeadLetter(raw, exc.problem, exc.field, event.message.partition, event.message.offset)
                metrics.observe_dead(exc.field)
                await dlq.send(value=raw, headers=dead.headers(topics.verdicts))

    @app.on_before_shutdown.connect
    async def close_feed(sender, **kwargs) -> None:
        await feed.close()

    return after_rebuild


async def publish_revisions(app: "faust.App", topics: "Topics", metrics: "Metrics", revisions: list[Decision]) -> None:
    """New revisions (a verdict or a rule set switch changed them) onto risk-decisions, and the flagged onto
    risk-review; returns once Kafka has them all."""
    send = app.producer.send
    sent = []
    for decision in revisions:
        record, key = orjson.dumps(decision.to_dict()), decision.order_id.encode()
        sent.append(await send(topics.decisions, key, record, None, None, None))
        if decision.action.flagged:
            sent.append(await send(topics.review, key, record, None, None, None))
    if sent:
        await asyncio.gather(*sent)
    for decision in revisions:
        metrics.observe_decision(decision.action.label, None, review=decision.action.flagged)
