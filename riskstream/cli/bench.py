"""``riskstream bench ...``: benchmarks that print figures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
import orjson


@click.group()
def bench() -> None:
    """Benchmarks that print figures."""


@bench.command("replay")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--rules", type=click.Path(exists=True))
@click.option("--repeat", type=int, default=1, show_default=True)
@click.option("--model", type=click.Path(exists=True), help="score with this anomaly model too")
def bench_replay(input_path: str, rules: str | None, repeat: int, model: str | None) -> None:
    """Replay speed beside a bare JSON-parse loop over the same file, and peak RSS."""
    from ..bench.replay import bench_replay as run

    click.echo(orjson.dumps(run(input_path, rules, repeat, model), option=orjson.OPT_INDENT_2).decode())


@bench.command("model")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--model", required=True, type=click.Path(exists=True), help="models/NAME.skops")
@click.option("--rules", type=click.Path(exists=True))
@click.option("--rows", type=int, default=20_000, show_default=True, help="orders whose feature rows are scored")
def bench_model(input_path: str, model: str, rules: str | None, rows: int) -> None:
    """Microseconds per row of model scoring, by batch size (1, 10, 100, 1000)."""
    from ..bench.model import bench_model as run

    click.echo(orjson.dumps(run(input_path, model, rules, rows), option=orjson.OPT_INDENT_2).decode())


@bench.command("memory")
@click.option("--orders", type=int, default=1_000_000, show_default=True)
@click.option("--days", type=int, default=10, show_default=True, help="spread the orders over this many days")
@click.option("--rules", type=click.Path(exists=True))
def bench_memory(orders: int, days: int, rules: str | None) -> None:
    """Peak RSS of a replay as the input grows: run with --days 1 and --days 10."""
    from ..bench.replay import bench_memory as run

    click.echo(orjson.dumps(run(orders, days, rules), option=orjson.OPT_INDENT_2).decode())


@bench.command("graph")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--rules", type=click.Path(exists=True), help="a rule set with a graph [default: ./rules or bundled]")
@click.option("--repeat", type=click.IntRange(1), default=3, show_default=True,
              help="side-by-side off/on runs; the median ratio counts")
@click.option("--chunk", type=click.IntRange(1), default=250, show_default=True,
              help="orders each side replays before the other takes its turn")
@click.option("--hub-accounts", type=int, default=100_000, show_default=True, help="accounts sharing the hub IP")
@click.option("--hub-rate", type=float, default=20.0, show_default=True, help="hub-stream orders per second of event time")
@click.option("--hub-retention", type=float, default=1800.0, show_default=True, help="link retention (seconds) in the hub stream")
def bench_graph(input_path: str, rules: str | None, repeat: int, chunk: int, hub_accounts: int, hub_rate: float,
                hub_retention: float) -> None:
    """Replay speed with the graph on and off (and their ratio), the graph step's µs per order,
    and a hub stream (one IP shared by many accounts) showing speed and size over time."""
    from ..bench.graph import bench_graph as run

    try:
        result = run(input_path, rules, repeat, hub_accounts, hub_rate, hub_retention, chunk)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


@bench.command("address")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--similarity", type=click.FloatRange(0.0, 1.0), default=0.7, show_default=True)
@click.option("--guard", type=click.Choice(["unit", "none"]), default="unit", show_default=True)
def bench_address(input_path: str, similarity: float, guard: str) -> None:
    """Fuzzy address linking on labelled orders: microseconds per match, ring addresses united, benign merges."""
    from ..bench.address import bench_address as run

    click.echo(orjson.dumps(run(input_path, similarity, guard), option=orjson.OPT_INDENT_2).decode())


@bench.command("fuzzy")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--rules", type=click.Path(exists=True), help="a rule set with graph.fuzzy_addresses [default: ./rules or bundled]")
@click.option("--repeat", type=click.IntRange(1), default=3, show_default=True,
              help="side-by-side off/on runs; the median ratio counts")
@click.option("--chunk", type=click.IntRange(1), default=250, show_default=True,
              help="orders each side replays before the other takes its turn")
@click.option("--no-detection", is_flag=True, help="skip the blocked share per scenario with fuzzy off and on")
def bench_fuzzy(input_path: str, rules: str | None, repeat: int, chunk: int, no_detection: bool) -> None:
    """Replay orders/s with fuzzy address linking off and on (same rules otherwise, same file,
    side by side), their ratio, and the blocked share per simulator scenario off and on."""
    from ..bench.address import bench_fuzzy as run

    try:
        result = run(input_path, rules, repeat, chunk, detection=not no_detection)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    rates = ", ".join("{:,} / {:,}".format(r["off_orders_per_cpu_second"], r["on_orders_per_cpu_second"])
                      for r in result["runs"])
    click.echo(f"replay orders per CPU second, fuzzy off / on: {rates}; on/off time ratio "
               f"{result['on_to_off_time_ratio']:.3f} (fuzzy linking: {result['fuzzy_cost_share']:+.1%} of replay time)",
               err=True)


@bench.command("kill")
@click.option("--bootstrap", default="127.0.0.1:9092", show_default=True, help="a running broker (riskstream kafka up)")
@click.option("--orders", type=int, default=100_000, show_default=True)
@click.option("--kills", type=int, default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def bench_kill(bootstrap: str, orders: int, kills: int, seed: int) -> None:
    """SIGKILL a worker at random moments while it decides ORDERS; count missing,
    conflicting and replay-differing decisions (all should be 0)."""
    from ..bench.chaos import kill_test

    click.echo(orjson.dumps(kill_test(bootstrap, orders=orders, kills=kills, seed=seed), option=orjson.OPT_INDENT_2).decode())


@bench.command("stream")
@click.option("--bootstrap", help="a running broker; default: the local broker on --port, started if needed")
@click.option("--port", type=int, help="local broker port [default: the running local broker's, else 9092]")
@click.option("--orders", type=int, default=50_000, show_default=True, help="orders in the throughput run")
@click.option("--rate", "rates", type=float, multiple=True, default=(5000.0,), show_default=True,
              help="publish rate of a latency run (repeatable)")
@click.option("--latency-seconds", type=float, default=4.0, show_default=True, help="length of each latency run")
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--rules", type=click.Path(exists=True), default="rules", show_default=True)
@click.option("--profile", is_flag=True,
              help="sample the worker's stacks with py-spy during the throughput run: where its time goes, by stage and part")
def bench_stream(bootstrap, port, orders, rates, latency_seconds, seed, rules, profile) -> None:
    """Worker throughput and latency through the real broker, beside a bare
    aiokafka pass-through run the same way, and their ratio."""
    from ..bench.profiling import ProfilerMissing, py_spy
    from ..bench.stream import bench_stream as run

    if profile:
        try:
            py_spy()
        except ProfilerMissing as exc:
            raise click.ClickException(str(exc)) from None
    with _broker(bootstrap, port) as bootstrap:
        result = run(bootstrap, orders=orders, rates=rates, latency_seconds=latency_seconds, seed=seed, rules=rules,
                     report=lambda line: click.echo(line, err=True), profile=profile)
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


@bench.command("console")
@click.option("--orders", type=int, default=50_000, show_default=True, help="simulated orders decided for the feed")
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--rules", type=click.Path(exists=True), default="rules", show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=5000, show_default=True,
              help="records per poll (one transaction)")
@click.option("--store", "-s", "store_target", help="case store URL or path [default: a fresh SQLite file]")
@click.option("--queue-cases", type=click.IntRange(min=0), default=100_000, show_default=True,
              help="open cases in the store whose queue page is timed (0: ingest only)")
def bench_console(orders, seed, rules, batch, store_target, queue_cases) -> None:
    """Case-store ingest rate (a simulated day's review and decision records into a fresh store) and the
    queue page's server time with --queue-cases open cases."""
    from ..bench.console import bench_console as run

    result = run(orders=orders, seed=seed, rules=rules, batch=batch, store=store_target, queue_cases=queue_cases,
                 report=lambda line: click.echo(line, err=True))
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


@bench.command("verdicts")
@click.option("--bootstrap", help="a running broker; default: the local broker on --port, started if needed")
@click.option("--port", type=int, help="local broker port [default: the running local broker's, else 9092]")
@click.option("--orders", type=int, default=20_000, show_default=True, help="half decided first, half as background traffic")
@click.option("--verdicts", "count", type=int, default=40, show_default=True, help="freeze verdicts to publish")
@click.option("--every", type=float, default=0.1, show_default=True, help="seconds between verdicts")
@click.option("--rate", type=float, default=500.0, show_default=True, help="background orders/s while verdicts come")
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--rules", type=click.Path(exists=True), default="rules", show_default=True)
def bench_verdicts(bootstrap, port, orders, count, every, rate, seed, rules) -> None:
    """Verdict-to-revision latency: freeze verdicts through a real worker while orders flow."""
    from ..bench.verdicts import bench_verdicts as run

    with _broker(bootstrap, port) as bootstrap:
        result = run(bootstrap, orders=orders, verdicts=count, every=every, rate=rate, seed=seed, rules=rules,
                     report=lambda line: click.echo(line, err=True))
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


@contextmanager
def _broker(bootstrap: str | None, port: int | None) -> Iterator[str]:
    """``bootstrap`` as given, else the local broker on ``port``: started if needed, and then stopped after."""
    if bootstrap is not None:
        yield bootstrap
        return
    from ..kafka.local import LocalKafka

    broker = LocalKafka(port=port)
    started = not broker.status().get("running")
    address = broker.up()
    try:
        yield address
    finally:
        if started:
            broker.down()


@bench.command("report")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--baseline", default="7e60840", show_default=True, help="the commit to compare replay speed with")
@click.option("--repeat", type=click.IntRange(1), default=2, show_default=True, help="turns per replay and passes per step")
@click.option("--memory-orders", type=click.IntRange(4), default=400_000, show_default=True,
              help="synthetic orders (six new entities each) in the memory run")
@click.option("--stream", "with_stream", is_flag=True, help="also run `bench stream` (starts the local broker if needed)")
@click.option("--rate", "rates", type=float, multiple=True, default=(1000.0, 2000.0), show_default=True,
              help="publish rate of a stream latency run (repeatable; with --stream)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the figures as JSON here too")
def bench_report(input_path: str, baseline: str, repeat: int, memory_orders: int, with_stream: bool,
                 rates: tuple[float, ...], output: str | None) -> None:
    """Replay of this tree (native and pure Python) beside a baseline commit, engine cost per
    step, graph stage rate, memory per entity, stream figures (--stream) and a capacity model."""
    from contextlib import nullcontext

    from ..bench.report import bench_report as run
    from ..bench.report import summary

    def say(line: str) -> None:
        click.echo(line, err=True)

    with _broker(None, None) if with_stream else nullcontext(None) as bootstrap:
        stream = None if bootstrap is None else {"bootstrap": bootstrap, "orders": 50_000, "rates": rates,
                                                 "latency_seconds": 4.0, "seed": 11, "rules": "rules"}
        result = run(input_path, baseline=baseline, repeat=repeat, memory_orders=memory_orders, stream=stream, say=say)
    if output:
        with open(output, "wb") as out:
            out.write(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    for line in summary(result):
        click.echo(line)
