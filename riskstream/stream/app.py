"""Faust wiring: topics and agents around the stages in :mod:`.stages`.

    orders (by account) --screen--> risk-touches (by key) --entities--> risk-signals (by order id)
                        --screen--> risk-graph (1 partition: new links) --graph--> risk-signals (clusters)
    risk-signals --decide--> risk-decisions (all, by order id) + risk-review (flagged)
                 --decide--> risk-signals (escalation triggers, to every partition)
    risk-verdicts (whole, every worker) --decide's lists--> risk-decisions (revisions of the orders they cover)
    bad events --> orders-dlq (original bytes; reason, field, source partition/offset in headers)

The graph runs when the rule set keeps one: a single-partition topic feeds
the one graph instance (on whichever worker holds that partition), which
applies links in event-time order and sends every order its cluster; a
timer on that worker marks ``orders`` partitions that are screened to their
end, so a quiet partition does not hold the graph back (up to the newest event
time the graph had heard of when it looked).

Agents run with concurrency 1 and read batches (``take_events``); every
output is routed to an explicit partition chosen by :func:`.stages.partition_of`.
With a model, the decide agent scores the orders each batch completes in one
call: the micro-batch wait is the agent's own (``WITHIN``, 20 ms), and a new
model version is picked up between batches.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from pathlib import Path

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from ..assembly import load_engine, load_scoring
from ..engine import DecisionEngine
from ..kafka.security import aiokafka_options, faust_credentials
from ..kafka.topics import Topics, create_missing
from ..model.features import FeatureExtractor
from ..settings import settings_from_env
from .observe import Metrics, Origins, install_timers, install_web
from .recovery import restore_assigned
from .rulesets import install_rulesets
from .stages import (
    Decide,
    Entities,
    GraphStage,
    Screen,
    pack,
    pack_keyed,
    pack_progress,
    partition_of,
    reused_letters,
)
from .transport import install as install_transport
from .verdicts import install_verdicts

log = logging.getLogger("riskstream.worker")

BATCH = 1000
WITHIN = 0.02  # seconds a batch may wait to fill
INTERNAL_RETENTION_MS = 36 * 3600 * 1000  # more than the longest window plus the grace
QUIET = 0.5  # seconds an orders partition screened to its end must be silent before the graph moves it on
MARK_EVERY = 0.1  # seconds between looks for such partitions while links wait (orders behind a quiet one wait this long)


def internal_topics(app_id: str) -> tuple[str, str, str]:
    """The worker group's own topics: touches (by key), signals (by order id) and the graph's links (one partition)."""
    return f"{app_id}-touches", f"{app_id}-signals", f"{app_id}-graph"


def ensure_internal_topics(bootstrap: str, app_id: str, partitions: int, graph_retention: float | None = None) -> None:
    """Create the internal topics before the worker subscribes to them.  Kept a
    day and a half (the links a day longer than the graph's retention): a
    restarted worker re-reads them to rebuild its state."""
    touches, signals, graph = internal_topics(app_id)
    config = {"cleanup.policy": "delete", "retention.ms": str(INTERNAL_RETENTION_MS)}
    graph_ms = max(INTERNAL_RETENTION_MS, int(((graph_retention or 0.0) + 86400.0) * 1000))
    create_missing(bootstrap, {touches: partitions, signals: partitions, graph: 1},
                   configs={touches: config, signals: config, graph: {**config, "retention.ms": str(graph_ms)}})


def create_app(
    bootstrap: str,
    *,
    topics: Topics,
    data_dir: Path,
    web_port: int = 6066,
    rules: str | None = None,
    app_id: str = "riskstream",
    model: str | None = None,
) -> faust.App:
    """The worker's app; ``app_id`` names its consumer group and internal topics."""
    gc.set_threshold(50_000, 20, 100)  # see settle()
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=faust_credentials(),  # RISKSTREAM_KAFKA_*: SASL and TLS, see riskstream.kafka.security
        datadir=str(data_dir),
        web_port=web_port,
        web_host="127.0.0.1",
        topic_replication_factor=1,
        topic_partitions=topics.partitions,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        broker_commit_interval=1.0,
        producer_linger=0.005,
        producer_acks=-1,
        web_bind="127.0.0.1",
        # A killed worker's partitions move on after this long without heartbeats.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
    )
    install_transport(app)  # a short fetch wait: see riskstream.stream.transport
    metrics = Metrics(app_id=app_id)
    app.riskstream_metrics = metrics  # type: ignore[attr-defined]
    install_web(app, metrics)
    install_timers(app, metrics)
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    orders = app.topic(topics.orders, partitions=topics.partitions, **raw)
    touch_topic, signal_topic, graph_topic = internal_topics(app_id)
    touches = app.topic(touch_topic, partitions=topics.partitions, **raw)
    signals = app.topic(signal_topic, partitions=topics.partitions, **raw)
    links = app.topic(graph_topic, partitions=1, **raw)
    dlq = app.topic(topics.dlq, **raw)

    n = topics.partitions
    engines = [load_engine(rules) for _ in range(3)]
    engine_options = settings_from_env().engine_options()
    has_graph = engines[0].graph is not None
    # The graph stage is rebuilt from its topic whenever this worker is handed its partition.
    graph_stage: list[GraphStage | None] = [None]
    scoring = load_scoring(engines[2], model, reload=True)  # None: rules alone
    features = FeatureExtractor(engines[0]) if scoring is not None else None
    if scoring is not None:
        FeatureExtractor(engines[1])  # every stage's engine keeps the feature windows
    screen = Screen(engines[0], n, n, features=features)
    entities = Entities(engines[1], n)
    metrics.watch_evictions(entities.evictions)  # the windows' and ledger's cardinality caps
    decide = Decide(engines[2], scoring=scoring)

    def read_signals(messages: list[dict]) -> tuple[list, list, list, list]:
        """Plans, signals, clusters and escalation triggers of a batch of decoded risk-signals messages."""
        plans: list = []
        found: list = []
        clusters: list = []
        triggers: list = []
        for message in messages:
            plans.extend(message.get("plans", ()))
            found.extend(message.get("signals", ()))
            clusters.extend(message.get("clusters", ()))
            triggers.extend(message.get("escalate", ()))
        return plans, found, clusters, triggers

    def restore_signals(values: list[bytes]) -> None:
        decide.run(*read_signals([orjson.loads(v) for v in values]))
        decide.take_triggers()  # published before the restart
        decide.take_reused()  # dead-lettered before the restart

    def restore_graph(values: list[bytes]) -> None:
        assert graph_stage[0] is not None
        graph_stage[0].restore(orjson.loads(v) for v in values)

    restorers = {
        topics.orders: screen.restore,
        touch_topic: lambda values: entities.restore(t for v in values for t in orjson.loads(v)),
        signal_topic: restore_signals,
        graph_topic: restore_graph,
    }

    # Agents wait while state is rebuilt, so no live message is processed
    # against half-restored state (an order concluded silently, a window short).
    # The rebuild runs beside the rebalance, not inside it: a rebuild longer
    # than the session timeout inside the callback kept the worker from
    # rejoining the next rebalance, so it lost its partitions and rebuilt again.
    ready = asyncio.Event()
    rebuilding: list[asyncio.Task] = []
    # Verdicts: read whole by every worker, filed in the decide stage's lists (see .verdicts).
    after_rebuild = install_verdicts(app, bootstrap, topics, decide, ready, restorers, signal_topic, metrics)
    # Published rule sets: read whole at boot and followed; the decide engine switches by event time (see .rulesets).
    install_rulesets(app, bootstrap, topics, decide, ready, metrics)

    graph_built = [False]  # the graph stage's rebuild finished (a cancelled one starts again from scratch)

    async def rebuild(assigned: set) -> None:
        try:
            await restore_assigned(bootstrap, app.conf.id, assigned, restorers)
            graph_built[0] = graph_stage[0] is not None
            await after_rebuild()
        except asyncio.CancelledError:
            raise  # a newer assignment restarts the rebuild (restores are idempotent)
        except Exception as exc:  # never decide on half-built state
            log.exception("state rebuild failed")
            await app.crash(exc)
            return
        settle()
        ready.set()

    @app.on_partitions_assigned.connect
    async def rebuild_state(sender, assigned, **kwargs) -> None:
        ready.clear()
        for task in rebuilding:
            task.cancel()
        assigned = set(assigned)
        # Orders of risk-signals partitions now held elsewhere are decided there: forget them here.
        held = {tp.partition for tp in assigned if tp.topic == signal_topic}
        forgotten = decide.retain(lambda order_id: partition_of(order_id, n) in held)
        if forgotten:
            log.info("forgot %d orders of risk-signals partitions now held by other workers", forgotten)
        if has_graph and any(tp.topic == graph_topic for tp in assigned):
            if graph_stage[0] is None or not graph_built[0]:  # handed the graph: rebuild it from its topic
                graph_stage[0] = GraphStage(DecisionEngine(engines[0].ruleset, **engine_options), n, n)
                graph_built[0] = False
            else:  # kept it: its state is current
                assigned = {tp for tp in assigned if tp.topic != graph_topic}
        else:
            graph_stage[0] = None
        rebuilding[:] = [asyncio.ensure_future(rebuild(assigned))]
    origins = Origins()  # order id -> when its plan was sent, until its first decision

    @app.agent(orders, concurrency=1)
    async def screen_orders(stream):
        async for batch in stream.take_events(BATCH, within=WITHIN):
            await ready.wait()
            out = screen.run((e.value, e.message.partition, e.message.offset) for e in batch)
            metrics.observe_order(len(batch))
            sent = []
            for dead in out.dead:
                metrics.observe_dead(dead.field)
                sent.append(await dlq.send(value=dead.value, headers=dead.headers(topics.orders)))
            send = app.producer.send  # straight to the producer, as the other agents do
            for partition, items in out.touches.items():
                for value in pack(items):
                    sent.append(await send(touch_topic, None, value, partition, None, None))
            for partition, items in out.plans.items():
                for value in pack_keyed("plans", items, sent=time.time()):
                    sent.append(await send(signal_topic, None, value, partition, None, None))
            for mark in out.graph:
                for value in pack_progress(mark):
                    sent.append(await send(graph_topic, None, value, 0, None, None))
            await delivered(sent)

    @app.agent(links, concurrency=1)
    async def link_accounts(stream):
        async for batch in stream.take_events(BATCH, within=WITHIN):
            await ready.wait()
            stage = graph_stage[0]
            if stage is None:
                # Read before a rebalance took the partition away: its offsets can no
                # longer be committed here, and its new owner reads these links again.
                log.info("skipped %d graph messages of a partition this worker no longer holds", len(batch))
                continue
            out = stage.run(orjson.loads(event.value) for event in batch)
            metrics.graph_waiting.set(stage.buffered)
            send = app.producer.send
            sent = [await send(signal_topic, None, value, partition, None, None)
                    for partition, items in out.items() for value in pack_keyed("clusters", items)]
            await delivered(sent)

    ends = OrderEnds(bootstrap, topics.orders, n)

    @app.timer(MARK_EVERY)
    async def mark_caught_up() -> None:
        """Tell the graph which quiet orders partitions are screened to their end, up to which
        event time (the newest it had heard of before the end offsets were read; see GraphStage)."""
        stage = graph_stage[0]
        if stage is None or not stage.buffered or not ready.is_set():
            return
        upto = stage.horizon
        marks = stage.caught_up(await ends.fetch(), quiet=QUIET, upto=upto)
        if marks:
            marker = orjson.dumps({"caught_up": marks, "upto": upto})
            await delivered([await app.producer.send(graph_topic, None, marker, 0, None, None)])

    @app.timer(10.0)
    async def settle_state() -> None:
        settle()

    @app.on_before_shutdown.connect
    async def close_ends(sender, **kwargs) -> None:
        await ends.close()

    @app.agent(touches, concurrency=1)
    async def count_touches(stream):
        async for batch in stream.take_events(64, within=WITHIN):
            await ready.wait()
            # The batch's signals go out as one message per signals partition.
            merged: dict[int, list] = {}
            for event in batch:
                for partition, items in entities.run(orjson.loads(event.value)).items():
                    merged.setdefault(partition, []).extend(items)
            send = app.producer.send
            sent = [await send(signal_topic, None, value, partition, None, None)
                    for partition, items in merged.items() for value in pack_keyed("signals", items)]
            await delivered(sent)

    @app.agent(signals, concurrency=1)
    async def decide_orders(stream):
        async for batch in stream.take_events(64, within=WITHIN):
            await ready.wait()
            messages = [orjson.loads(event.value) for event in batch]
            for message in messages:
                for plan in message.get("plans", ()):
                    origins.note(plan["order"]["order_id"], message["sent"])
            sent = []
            decided = decide.run(*read_signals(messages))
            # One record per decision: straight to the producer (keyed, so the
            # client's partitioner places it), not through Faust's topic layer,
            # whose per-message bookkeeping costs more than the send itself.
            send = app.producer.send
            for decision in decided:
                record = orjson.dumps(decision.to_dict())
                key = decision.order_id.encode()
                sent.append(await send(topics.decisions, key, record, None, None, None))
                if decision.action.flagged:
                    sent.append(await send(topics.review, key, record, None, None, None))
            for dead in reused_letters(decide.take_reused(), batch[-1].message):
                sent.append(await dlq.send(value=dead.value, headers=dead.headers(signal_topic)))
            triggers = decide.take_triggers()
            if triggers:  # every decide partition escalates its own orders of the ring
                for value in pack_keyed("escalate", triggers):
                    sent.extend([await send(signal_topic, None, value, partition, None, None) for partition in range(n)])
            await delivered(sent)
            now = time.time()
            for decision in decided:
                metrics.observe_decision(decision.action.label, origins.take(decision.order_id, now),
                                         review=decision.action.flagged)
            metrics.observe_capped(decide.engine.safety.take_held())  # the mass-freeze cap's holds

    return app


class OrderEnds:
    """The ``orders`` topic's end offsets, read without joining any group."""

    def __init__(self, bootstrap: str, topic: str, partitions: int):
        self.bootstrap = bootstrap
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self.consumer: AIOKafkaConsumer | None = None

    async def fetch(self) -> dict[int, int]:
        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                             **aiokafka_options())
            await self.consumer.start()
        ends = await self.consumer.end_offsets(self.partitions)
        return {tp.partition: offset for tp, offset in ends.items()}

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None


def settle() -> None:
    """Move what survives a full collection out of the cyclic collector's sight.

    Window and graph state is millions of long-lived acyclic containers
    (reference counting frees them); a collector re-walking them as they grow
    stalls every stage.  Workers run young collections less often and settle
    their state after a rebuild and every ten seconds.
    """
    gc.collect()
    gc.freeze()


async def delivered(futures: list) -> None:
    """Wait until Kafka has every message of a batch, so the batch's input is
    acknowledged (and its offsets committed) only after its output is safe."""
    if futures:
        await asyncio.gather(*futures)
