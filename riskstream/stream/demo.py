"""``riskstream demo``: the live demo, end to end on a real local broker.

Starts the local Kafka broker (unless it is already up) and one worker,
streams a simulated flash-sale day into ``orders``, follows the decisions
with a progress bar, and prints the outcome: decisions by action, precision
and recall against the simulator's labels, throughput, and decision latency
(from each order's produce timestamp to its first decision's, both stamped by
Kafka).  Outcomes, precision and recall are those of each order's final
decision: a ring's earlier orders are escalated by later revisions.  It stops
what it started.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import click
import numpy as np

from ..decisions import Outcome
from ..metrics import LabelTally, parse_label
from ..simulate import simulate
from ..topics import Topics, ensure_topics
from .chaos import WorkerProcess, compressed_time_settings, first_and_final, first_records, publish_paced


@click.command()
@click.option("--orders", type=int, default=30_000, show_default=True)
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--rate", type=float, default=400, show_default=True,
              help="orders/s to publish (0: as fast as possible); on 2 cores shared with the broker, one worker "
                   "keeps up with about 550-600 through the flash sale")
@click.option("--port", type=int, help="local broker port [default: the running local broker's, else 9092 or $RISKSTREAM_KAFKA_PORT]")
@click.option("--rules", type=click.Path(exists=True), default="rules", show_default=True)
def demo(orders: int, seed: int, rate: float, port: int | None, rules: str) -> None:
    """Live demo: local broker, one worker, a simulated flash sale, the outcome."""
    from ..cli import progress_bar
    from ..localkafka import LocalKafka, LocalKafkaError

    broker = LocalKafka(port=port)
    was_running = bool(broker.status().get("running"))
    try:
        bootstrap = broker.up()
    except LocalKafkaError as exc:
        raise click.ClickException(f"cannot start the local broker: {exc}") from None
    run = uuid.uuid4().hex[:6]
    topics = Topics(orders=f"demo-orders-{run}", decisions=f"demo-decisions-{run}", review=f"demo-review-{run}",
                    dlq=f"demo-dlq-{run}", verdicts=f"demo-verdicts-{run}", partitions=4)
    ensure_topics(bootstrap, topics)
    work = Path("var/demo") / run
    work.mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(bootstrap, topics, f"demo-{run}", work, rules, compressed_time_settings())
    events = list(simulate(orders, seed))
    try:
        worker.start()
        worker.wait_ready()
        click.echo(f"broker {bootstrap}; worker started; publishing {orders:,} simulated orders at {rate:,.0f}/s", err=True)
        started = time.time()
        publisher = threading.Thread(target=publish_paced, args=(bootstrap, topics.orders, events, rate), daemon=True)
        publisher.start()
        with progress_bar(orders, "decided", unit="orders") as update:
            decided = first_and_final(bootstrap, topics.decisions, orders, update)
        # until the last order's first decision (the reading that follows waits for late escalations)
        seconds = max((first for first, _, _ in decided.values()), default=started * 1000) / 1000 - started
        publisher.join()
        produced = first_records(bootstrap, topics.orders, orders, lambda v: v["order_id"], idle=5.0)
    finally:
        worker.stop()
        if not was_running:
            broker.down()
    _summary(events, decided, produced, seconds)
    click.echo(f"worker logs: {work}")


def _summary(events: list[dict], decided: dict, produced: dict, seconds: float) -> None:
    tally = LabelTally()
    actions: dict[str, int] = {}
    latencies = []
    for event in events:
        order_id = event["order_id"]
        if order_id not in decided:
            continue
        ts_ms, _, record = decided[order_id]  # latency to the first decision; outcomes from the final one
        action = Outcome.parse(record["action"])
        actions[action.label] = actions.get(action.label, 0) + 1
        tally.add(parse_label(event.get("label")), action, record["score"])
        if order_id in produced:
            latencies.append(ts_ms - produced[order_id][0])
    summary = tally.summary()
    p50, p99 = (np.percentile(latencies, [50, 99]) if latencies else (float("nan"), float("nan")))
    click.echo("")
    click.echo(f"orders {len(events):,}   decided {len(decided):,}   missing {len(events) - len(decided):,}   "
               f"throughput {len(decided) / max(seconds, 1e-9):,.0f} orders/s ({seconds:.1f} s)")
    escalated = sum(1 for _, _, final in decided.values() if final.get("revision", 1) > 1)
    click.echo("final decisions: " + ", ".join(f"{a} {actions.get(a, 0):,}" for a in ("allow", "challenge", "review", "hold", "freeze"))
               + f"   ({escalated:,} escalated by a later revision)")
    click.echo(f"flagged  precision {summary['flagged']['precision']:.4f}  recall {summary['flagged']['recall']:.4f}")
    click.echo(f"blocked  precision {summary['blocked']['precision']:.4f}  recall {summary['blocked']['recall']:.4f}   "
               f"benign flagged {summary['benign_flagged_share']:.2%}")
    click.echo(f"decision latency (order produced -> first decision published): p50 {p50:,.0f} ms   p99 {p99:,.0f} ms")
