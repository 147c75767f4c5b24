"""Faust wiring: topics and agents around the stages in :mod:`.stages`.

    orders (by account) --screen--> risk-touches (by key) --entities--> risk-signals (by order id)
    risk-signals --decide--> risk-decisions (all, by order id) + risk-review (flagged)
    bad events --> orders-dlq (original bytes; reason, field, source partition/offset in headers)

Agents run with concurrency 1 and read batches (``take_events``); every
output is routed to an explicit partition chosen by :func:`.stages.partition_of`.
With a model, the decide agent scores the orders each batch completes in one
call: the micro-batch wait is the agent's own (``WITHIN``, 20 ms), and a new
model version is picked up between batches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import faust
import orjson

from ..cli import load_engine, load_scoring
from ..model.features import FeatureExtractor
from ..topics import Topics, create_missing
from .observe import Metrics, Origins, install_timers, install_web
from .recovery import restore_assigned
from .stages import Decide, Entities, Screen

log = logging.getLogger("riskstream.worker")

BATCH = 1000
WITHIN = 0.02  # seconds a batch may wait to fill
INTERNAL_RETENTION_MS = 36 * 3600 * 1000  # more than the longest window plus the grace


def internal_topics(app_id: str) -> tuple[str, str]:
    """The worker group's own topics: touches (by key) and signals (by order id)."""
    return f"{app_id}-touches", f"{app_id}-signals"


def ensure_internal_topics(bootstrap: str, app_id: str, partitions: int) -> None:
    """Create the internal topics before the worker subscribes to them.  Kept a
    day and a half: a restarted worker re-reads them to rebuild its state."""
    config = {"cleanup.policy": "delete", "retention.ms": str(INTERNAL_RETENTION_MS)}
    names = internal_topics(app_id)
    create_missing(bootstrap, {name: partitions for name in names}, configs={name: config for name in names})


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
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
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
    metrics = Metrics(app_id=app_id)
    app.riskstream_metrics = metrics  # type: ignore[attr-defined]
    install_web(app, metrics)
    install_timers(app, metrics)
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    orders = app.topic(topics.orders, partitions=topics.partitions, **raw)
    touch_topic, signal_topic = internal_topics(app_id)
    touches = app.topic(touch_topic, partitions=topics.partitions, **raw)
    signals = app.topic(signal_topic, partitions=topics.partitions, **raw)
    decisions = app.topic(topics.decisions, partitions=topics.partitions, **raw)
    review = app.topic(topics.review, partitions=topics.partitions, **raw)
    dlq = app.topic(topics.dlq, **raw)

    n = topics.partitions
    # The entity graph does not run in the stream topology yet: workers decide
    # with the rule set minus its graph section and cluster rules (and say so).
    engines = [load_engine(rules, graph=False) for _ in range(3)]
    dropped = [r.id for r in load_engine(rules).ruleset.rules if r.cluster is not None]
    if dropped:
        log.warning("cluster rules are not evaluated by stream workers (the graph runs in replay only): %s",
                    ", ".join(dropped))
    scoring = load_scoring(engines[2], model, reload=True)  # None: rules alone
    features = FeatureExtractor(engines[0]) if scoring is not None else None
    if scoring is not None:
        FeatureExtractor(engines[1])  # every stage's engine keeps the feature windows
    screen = Screen(engines[0], n, n, features=features)
    entities = Entities(engines[1], n)
    decide = Decide(engines[2], scoring=scoring)

    def restore_signals(values: list[bytes]) -> None:
        plans: list = []
        found: list = []
        for value in values:
            message = orjson.loads(value)
            plans.extend(message.get("plans", ()))
            found.extend(message.get("signals", ()))
        decide.run(plans, found)

    restorers = {
        topics.orders: screen.restore,
        touches.get_topic_name(): lambda values: entities.restore(t for v in values for t in orjson.loads(v)),
        signals.get_topic_name(): restore_signals,
    }

    # Agents wait while state is rebuilt, so no live message is processed
    # against half-restored state (an order concluded silently, a window short).
    # The rebuild runs beside the rebalance, not inside it: a rebuild longer
    # than the session timeout inside the callback kept the worker from
    # rejoining the next rebalance, so it lost its partitions and rebuilt again.
    ready = asyncio.Event()
    rebuilding: list[asyncio.Task] = []

    async def rebuild(assigned: set) -> None:
        try:
            await restore_assigned(bootstrap, app.conf.id, assigned, restorers)
        except asyncio.CancelledError:
            raise  # a newer assignment restarts the rebuild (restores are idempotent)
        except Exception as exc:  # never decide on half-built state
            log.exception("state rebuild failed")
            await app.crash(exc)
            return
        ready.set()

    @app.on_partitions_assigned.connect
    async def rebuild_state(sender, assigned, **kwargs) -> None:
        ready.clear()
        for task in rebuilding:
            task.cancel()
        rebuilding[:] = [asyncio.ensure_future(rebuild(set(assigned)))]
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
                sent.append(await dlq.send(value=dead.raw, headers=dead.headers(topics.orders)))
            for partition, items in out.touches.items():
                sent.append(await touches.send(value=orjson.dumps(items), partition=partition))
            for partition, items in out.plans.items():
                sent.append(await signals.send(value=orjson.dumps({"plans": items, "sent": time.time()}), partition=partition))
            await delivered(sent)

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
            sent = [await send(signal_topic, None, orjson.dumps({"signals": items}), partition, None, None)
                    for partition, items in merged.items()]
            await delivered(sent)

    @app.agent(signals, concurrency=1)
    async def decide_orders(stream):
        async for batch in stream.take_events(64, within=WITHIN):
            await ready.wait()
            plans: list = []
            found: list = []
            for event in batch:
                message = orjson.loads(event.value)
                new = message.get("plans", ())
                plans.extend(new)
                for plan in new:
                    origins.note(plan["order"]["order_id"], message["sent"])
                found.extend(message.get("signals", ()))
            sent = []
            decided = decide.run(plans, found)
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
            await delivered(sent)
            now = time.time()
            for decision in decided:
                metrics.observe_decision(decision.action.label, origins.take(decision.order_id, now),
                                         review=decision.action.flagged)

    return app


async def delivered(futures: list) -> None:
    """Wait until Kafka has every message of a batch, so the batch's input is
    acknowledged (and its offsets committed) only after its output is safe."""
    if futures:
        await asyncio.gather(*futures)
