"""``riskstream demo``: the live demo, end to end on a real local broker.

Starts the local Kafka broker (unless it is already up) and one worker,
streams a simulated flash-sale day into ``orders``, follows the decisions
with a progress bar, and prints the outcome: decisions by action, precision
and recall against the simulator's labels, throughput, and decision latency
(from each order's produce timestamp to its first decision's, both stamped by
Kafka).  Outcomes, precision and recall are those of each order's final
decision: a ring's earlier orders are escalated by later revisions.  It stops
what it started.

With ``console=True`` (``riskstream demo --console``, ``make console-demo``)
it then keeps the broker and the worker running, fills a case store
(``var/demo/<run>/cases.db``) from the sale's review and decision records,
adds a user ``demo`` (role lead) with a fresh password, and serves the
reviewers' console on ``127.0.0.1:<console_port>`` until Ctrl-C: the URL,
user and password are printed.  A verdict there goes onto the run's verdicts
topic, the worker applies it, and the store follows the frozen revisions.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from .decisions import Outcome
from .harness import (
    WorkerProcess,
    compressed_time_settings,
    first_and_final,
    first_records,
    publish_paced,
)
from .kafka.local import LocalKafka, LocalKafkaError
from .kafka.topics import Topics, ensure_topics
from .offline.labels import LabelTally, parse_label
from .sim import simulate
from .terminal import err, progress_bar


class DemoError(RuntimeError):
    """The demo cannot run (the local broker does not start)."""


def run_demo(*, orders: int = 30_000, seed: int = 11, rate: float = 400, port: int | None = None, rules: str = "rules",
             say: Callable[[str], None] = print, console: bool = False, console_port: int = 8080) -> None:
    """Start what is needed, stream ``orders`` simulated orders at ``rate``/s, print the outcome through ``say``;
    with ``console``, then serve the reviewers' console on the sale until interrupted."""

    broker = LocalKafka(port=port)
    was_running = bool(broker.status().get("running"))
    try:
        bootstrap = broker.up()
    except LocalKafkaError as exc:
        raise DemoError(f"cannot start the local broker: {exc}") from None
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
        err(f"broker {bootstrap}; worker started; publishing {orders:,} simulated orders at {rate:,.0f}/s")
        started = time.time()
        publisher = threading.Thread(target=publish_paced, args=(bootstrap, topics.orders, events, rate), daemon=True)
        publisher.start()
        with progress_bar(orders, "decided", unit="orders") as update:
            decided = first_and_final(bootstrap, topics.decisions, orders, update)
        # until the last order's first decision (the reading that follows waits for late escalations)
        seconds = max((first for first, _, _ in decided.values()), default=started * 1000) / 1000 - started
        publisher.join()
        produced = first_records(bootstrap, topics.orders, orders, lambda v: v["order_id"], idle=5.0)
        if console:
            _summary(events, decided, produced, seconds, say)
            say(f"worker logs: {work}")
            serve_console(bootstrap, topics, work, console_port, say, group=f"demo-cases-{run}")
            return
    finally:
        worker.stop()
        if not was_running:
            broker.down()
    _summary(events, decided, produced, seconds, say)
    say(f"worker logs: {work}")
    say("to review this sale's cases in the reviewers' console and freeze a ring: make console-demo "
        "(riskstream demo --console)")


def serve_console(bootstrap: str, topics: Topics, work: Path, port: int, say: Callable[[str], None], *,
                  group: str, user: str = "demo", ready: Callable[..., None] | None = None) -> None:
    """The reviewers' console on the demo's topics until Ctrl-C (or SIGTERM): a case store filled from them and
    kept following them, a ``user`` (lead) with a fresh password, verdicts onto ``topics.verdicts``.
    ``ready(url, user, password, stop)`` is called once it serves; ``stop()`` ends it as Ctrl-C would."""
    import secrets

    import uvicorn

    from .console.app import ConsoleConfig, create_app
    from .console.auth import add_user
    from .console.consumer import CaseConsumer
    from .console.metrics import kafka_lag
    from .console.store import CaseStore
    from .kafka.verdicts import VerdictPublisher

    store = CaseStore.open(work / "cases.db")
    stop = threading.Event()
    consumer = CaseConsumer(store, bootstrap, topics, group=group)
    verdicts = VerdictPublisher(bootstrap, topics.verdicts)
    follower = None
    try:
        first = consumer.run(idle_exit=3.0)  # the sale so far, before the queue is shown
        say(f"case store {work / 'cases.db'}: {first.result.added:,} revisions in {len(first.result.cases):,} cases")
        follower = threading.Thread(target=consumer.run, kwargs={"should_stop": stop.is_set}, daemon=True,
                                    name="demo-cases")
        follower.start()  # verdicts' frozen revisions (and anything later) follow into the store
        password = secrets.token_urlsafe(12)
        with store.session() as session:
            add_user(session, user, password, "lead", actor="demo")
        app = create_app(ConsoleConfig(store=store, secret=secrets.token_urlsafe(32), publish=verdicts.publish,
                                       lag=kafka_lag(bootstrap, group, [topics.review, topics.decisions])))
        url = f"http://127.0.0.1:{port}/"
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        say("")
        say(f"reviewers' console: {url}   user {user}   password {password}")
        say("open the queue, take the top ring (j/k, Enter), freeze it with f; Ctrl-C stops the console, "
            "the worker and the broker")
        if ready is not None:
            threading.Thread(target=_when_serving, args=(server, ready, url, user, password), daemon=True).start()
        try:
            server.run()
        except KeyboardInterrupt:  # uvicorn shuts down on Ctrl-C, then raises it again
            say("console stopped")
    finally:
        stop.set()
        if follower is not None:
            follower.join(timeout=10)
        consumer.close()
        verdicts.close()
        store.close()


def _when_serving(server, ready, url: str, user: str, password: str) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.1)
    if server.started:
        ready(url, user, password, lambda: setattr(server, "should_exit", True))


def _summary(events: list[dict], decided: dict, produced: dict, seconds: float, say: Callable[[str], None]) -> None:
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
    say("")
    say(f"orders {len(events):,}   decided {len(decided):,}   missing {len(events) - len(decided):,}   "
        f"throughput {len(decided) / max(seconds, 1e-9):,.0f} orders/s ({seconds:.1f} s)")
    escalated = sum(1 for _, _, final in decided.values() if final.get("revision", 1) > 1)
    say("final decisions: " + ", ".join(f"{a} {actions.get(a, 0):,}" for a in ("allow", "challenge", "review", "hold", "freeze"))
        + f"   ({escalated:,} escalated by a later revision)")
    say(f"flagged  precision {summary['flagged']['precision']:.4f}  recall {summary['flagged']['recall']:.4f}")
    say(f"blocked  precision {summary['blocked']['precision']:.4f}  recall {summary['blocked']['recall']:.4f}   "
        f"benign flagged {summary['benign_flagged_share']:.2%}")
    say(f"decision latency (order produced -> first decision published): p50 {p50:,.0f} ms   p99 {p99:,.0f} ms")
