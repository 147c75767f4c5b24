"""The live commands: ``riskstream worker``, ``demo``, ``produce`` and ``decisions``."""

from __future__ import annotations

import asyncio
import os
from contextlib import nullcontext

import click

from ..kafka.topics import Topics, default_bootstrap, ensure_topics
from ..terminal import err, progress_bar


@click.command()
@click.option("--bootstrap", default=None, help="Kafka bootstrap HOST:PORT [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--web-port", type=int, default=6066, show_default=True, help="port of the health and metrics endpoints")
@click.option("--data-dir", type=click.Path(file_okay=False), default="var/worker", show_default=True, help="local state")
@click.option("--rules", type=click.Path(exists=True), help="rule file or directory [default: ./rules or bundled]")
@click.option("--app-id", default="riskstream", show_default=True, help="consumer group and internal topic prefix")
@click.option("--model", type=click.Path(), help="anomaly model, reloaded when it changes [default: $RISKSTREAM_MODEL, else rules alone]")
@click.option("--log-level", default="warning", show_default=True)
@click.option("--log-json/--no-log-json", default=False, show_default=True, help="log JSON lines (for collectors)")
def worker(bootstrap: str | None, web_port: int, data_dir: str, rules: str | None, app_id: str, model: str | None,
           log_level: str, log_json: bool) -> None:
    """Run a stream worker: decide orders from Kafka and publish decisions."""
    from ..stream.storage import StateDirError
    from ..stream.worker import run_worker

    try:
        run_worker(bootstrap or default_bootstrap(), web_port=web_port, data_dir=data_dir, rules=rules, app_id=app_id,
                   model=model, log_level=log_level, log_json=log_json)
    except StateDirError as exc:
        err(f"error: {exc.strerror}")
        raise SystemExit(2) from None


@click.command()
@click.option("--orders", type=int, default=30_000, show_default=True)
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--rate", type=float, default=400, show_default=True,
              help="orders/s to publish (0: as fast as possible); on 2 cores shared with the broker, one worker "
                   "keeps up with about 550-600 through the flash sale")
@click.option("--port", type=int, help="local broker port [default: the running local broker's, else 9092 or $RISKSTREAM_KAFKA_PORT]")
@click.option("--rules", type=click.Path(exists=True), default="rules", show_default=True)
@click.option("--console", is_flag=True,
              help="then serve the reviewers' console on the sale (user demo, password printed) until Ctrl-C")
@click.option("--console-port", type=int, default=8080, show_default=True)
def demo(orders: int, seed: int, rate: float, port: int | None, rules: str, console: bool, console_port: int) -> None:
    """Live demo: local broker, one worker, a simulated flash sale, the outcome (and with --console, the
    reviewers' console on it)."""
    from ..demo import DemoError, run_demo

    try:
        run_demo(orders=orders, seed=seed, rate=rate, port=port, rules=rules, say=click.echo, console=console,
                 console_port=console_port)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--bootstrap", "-b", help="Kafka bootstrap servers [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--topic", "-t", help="orders topic [default: $RISKSTREAM_TOPIC_ORDERS or orders]")
@click.option("--rate", type=click.FloatRange(min=0), default=0, show_default=True,
              help="orders per second, evenly paced; 0 = as fast as possible")
@click.option("--no-validate", is_flag=True, help="skip the order-contract check (it only counts and reports)")
def produce(input_path: str, bootstrap: str | None, topic: str | None, rate: float, no_validate: bool) -> None:
    """Publish a JSONL file of orders (- for stdin) to the orders topic, keyed by account id."""
    from kafka.errors import KafkaError

    from ..kafka.produce import ProduceStats, load

    bootstrap = bootstrap or default_bootstrap()
    topics = Topics.from_env(orders=topic)
    try:
        created = ensure_topics(bootstrap, topics)
    except (KafkaError, TimeoutError) as exc:
        raise click.ClickException(f"cannot prepare topics on {bootstrap}: {exc!r}") from None
    if created:
        err(f"created topics: {', '.join(created)}")

    stats = ProduceStats()
    stream = click.open_file(input_path, "rb")
    total = None if input_path == "-" else os.path.getsize(input_path)
    try:
        with stream, progress_bar(total, f"producing to {topics.orders}") as update:
            asyncio.run(load(stream, bootstrap, topics.orders, rate, not no_validate, stats, update,
                             say=lambda message: err(f"produce: {message}")))
    except KeyboardInterrupt:
        err("interrupted")
        raise SystemExit(130)
    except Exception as exc:
        from aiokafka.errors import KafkaError as AIOKafkaError

        if isinstance(exc, AIOKafkaError):
            raise click.ClickException(f"producing to {topics.orders} on {bootstrap}: {exc!r}") from None
        raise

    err(f"sent {stats.sent:,} orders to {topics.orders} in {stats.seconds:.2f} s ({stats.per_second:,.0f} orders/s)")
    notes = []
    if stats.unkeyed:
        notes.append(f"{stats.unkeyed:,} without an account id (sent without a key)")
    if stats.invalid:
        notes.append(f"{stats.invalid:,} failing the order contract (sent for the dead-letter path)")
    if stats.too_large:
        notes.append(f"{stats.too_large:,} too large (not sent)")
    if stats.retried:
        notes.append(f"{stats.retried:,} batches sent again after the brokers did not acknowledge them")
    if notes:
        err("  " + "; ".join(notes))
        for example in stats.examples:
            err(f"  {example}")
    if stats.failed or stats.error:
        raise click.ClickException(f"{stats.failed:,} orders not acknowledged: {stats.error}")


@click.command()
@click.option("--bootstrap", "-b", help="Kafka bootstrap servers [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--topic", "-t", help="decisions topic [default: $RISKSTREAM_TOPIC_DECISIONS or risk-decisions]")
@click.option("--from-beginning", is_flag=True, help="start at the oldest record instead of the newest")
@click.option("--follow", is_flag=True, help="keep reading until Ctrl-C")
@click.option("--until-idle", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="stop after SECONDS without a new record [default: 5]")
@click.option("-o", "--output", default="-", show_default=True, help="JSONL file (- for stdout)")
def decisions(bootstrap: str | None, topic: str | None, from_beginning: bool, follow: bool,
              until_idle: float | None, output: str) -> None:
    """Print or save decision records as JSONL, one record per line as published."""
    from kafka.errors import KafkaError

    from ..kafka.pipeline import DecisionReader, TopicNotFound

    if follow and until_idle is not None:
        raise click.UsageError("--follow and --until-idle exclude each other")
    idle = None if follow else (until_idle or 5.0)
    bootstrap = bootstrap or default_bootstrap()
    topic = topic or Topics.from_env().decisions
    to_stdout = output == "-"
    if not to_stdout:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    try:
        reader = DecisionReader(bootstrap, topic, from_beginning=from_beginning)
    except TopicNotFound as exc:
        raise click.ClickException(str(exc)) from None
    except KafkaError as exc:
        raise click.ClickException(f"cannot read {topic} on {bootstrap}: {exc!r}") from None

    count = 0
    with reader, nullcontext(click.get_binary_stream("stdout")) if to_stdout else open(output, "wb") as out:
        try:
            for record in reader.messages(idle=idle):
                if record.value is None:
                    continue
                out.write(record.value + b"\n")
                count += 1
                if follow:
                    out.flush()
        except KeyboardInterrupt:
            pass
        out.flush()
    where = "" if to_stdout else f" to {output}"
    err(f"read {count:,} decision records from {topic}{where}")
