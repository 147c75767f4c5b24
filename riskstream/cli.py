"""The ``riskstream`` command line.

    riskstream simulate --orders N --seed S -o FILE
    riskstream replay INPUT... [--rules PATH] [--model M] [--label-field NAME] [-o FILE] [--report FILE]
    riskstream model train INPUT... [-o models/NAME.skops] | riskstream model evaluate INPUT --model M
    riskstream backtest INPUT --rules NEW --baseline OLD [--label-field NAME]
    riskstream rules check [PATH] | riskstream rules schema
    riskstream bench replay INPUT | riskstream bench memory | riskstream bench address INPUT | riskstream bench graph INPUT
    riskstream cluster list --input FILE | riskstream cluster show ID --input FILE [-o PICTURE]
    riskstream kafka up | down | status
    riskstream produce INPUT [--bootstrap B] [--rate N]
    riskstream decisions [--from-beginning] [--follow | --until-idle S] [-o FILE]
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click
import orjson

from .settings import settings_from_env


def _err(message: str) -> None:
    click.echo(message, err=True)


@contextmanager
def progress_bar(total: int | None, description: str, unit: str = "bytes") -> Iterator[Any]:
    """A rich progress bar on a terminal; silent elsewhere.  Yields ``update(done)``."""
    if not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    counter = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    with Progress(TextColumn("{task.description}"), BarColumn(), counter, TimeRemainingColumn(), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)


def load_engine(rules: str | None, *, graph: bool = True, **overrides: Any):
    """An engine on the given rule set (or the default one); rule errors exit with status 2.

    ``graph=False``: without the entity graph and the rules that need it (what stream workers run)."""
    from .engine import DecisionEngine
    from .rules import RuleFileError, load_ruleset

    settings = settings_from_env()
    path = Path(rules) if rules else settings.rules_path
    try:
        ruleset = load_ruleset(path)
    except RuleFileError as exc:
        _err(f"invalid rules in {path}:")
        for problem in exc.problems:
            _err(f"  {problem}")
        raise SystemExit(2)
    if not graph:
        ruleset = ruleset.without_graph()
    return DecisionEngine(ruleset, **(settings.engine_options() | overrides))


def load_scoring(engine, model: str | None, *, reload: bool = False, batch: int | None = None):
    """The anomaly model on ``engine`` (``--model`` or ``RISKSTREAM_MODEL``), or None for rules alone.

    A refused artefact exits with status 2 and the reason.  Rules that read
    ``model_score`` with no model loaded are reported: their condition is false.
    """
    from .model import FixedModel, ModelError, ReloadingModel, Scoring, load_model
    from .model.scorer import DEFAULT_BATCH

    settings = settings_from_env()
    path = model or (str(settings.model) if settings.model else None)
    if path is None:
        if engine.uses_model:
            _err("note: rules read model_score but no model is loaded (--model / RISKSTREAM_MODEL): "
                 "those conditions are false")
        return None
    try:
        source = ReloadingModel(path, settings.model_reload_seconds) if reload else FixedModel(load_model(path))
    except ModelError as exc:
        _err(f"model refused: {exc}")
        raise SystemExit(2)
    return Scoring(engine, source, batch or DEFAULT_BATCH)


def _columns(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise click.BadParameter(f"expected FIELD=COLUMN, got {pair!r}", param_hint="--column")
        out[field] = column
    return out


def _write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


@click.group()
@click.version_option(package_name="riskstream")
def main() -> None:
    """riskstream: anti-scalper risk decisions for flash-sale orders."""


@main.command()
@click.option("--orders", "-n", type=click.IntRange(min=1), default=100_000, show_default=True, help="orders to generate")
@click.option("--seed", "-s", type=int, default=0, show_default=True, help="same seed, same file")
@click.option("-o", "--output", default="-", show_default=True, help="JSONL file (- for stdout)")
def simulate(orders: int, seed: int, output: str) -> None:
    """Simulate a flash-sale day with labelled scalpers (fields `label`, `scenario`)."""
    from .simulate import write_jsonl

    with progress_bar(orders, "simulating", unit="orders") as update:
        written = write_jsonl(None if output == "-" else output, orders, seed, progress=update)
    if output != "-":
        _err(f"wrote {written:,} orders to {output}")


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--rules", type=click.Path(exists=True), help="rule file or directory [default: ./rules or bundled]")
@click.option("--model", "model", type=click.Path(), help="anomaly model (models/NAME.skops) [default: $RISKSTREAM_MODEL, else rules alone]")
@click.option("--label-field", help="field holding the ground-truth label (1/true = abusive)")
@click.option("--group-field", help="field to break outcomes down by (e.g. scenario)")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
@click.option("-o", "--output", help="decisions as JSONL (- for stdout)")
@click.option("--report", "report_path", help="write the report JSON here")
def replay(inputs, rules, model, label_field, group_field, columns, output, report_path) -> None:
    """Replay order history through the engine, in order of appearance."""
    from .history import open_output, read_records, total_bytes
    from .replay import replay as run

    engine = load_engine(rules)
    scoring = load_scoring(engine, model)
    counter = [0]
    writer = open_output(output) if output else None
    records = read_records(list(inputs), _columns(columns), counter)
    try:
        with progress_bar(total_bytes(list(inputs)) or None, "replaying") as update:
            report = run(engine, _ticking(records, counter, update), write=writer.write if writer else None,
                         label_field=label_field, group_field=group_field, scoring=scoring)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    finally:
        if writer is not None:
            writer.close()
    summary = report.to_dict()
    _write_json(report_path, summary)
    _print_summary(summary)


def _ticking(records, counter, update, every: int = 4096):
    for n, record in enumerate(records):
        if not n % every:
            update(counter[0])
        yield record


def _print_summary(summary: dict) -> None:
    actions = ", ".join(f"{k} {v:,}" for k, v in summary["actions"].items())
    _err(f"orders {summary['orders']:,}  invalid {summary['invalid']:,}  duplicates {summary['duplicates']:,}  "
         f"({summary['orders_per_second']:,} orders/s)")
    _err(f"actions: {actions}")
    if summary.get("model_version"):
        _err(f"model: {summary['model_version']}")
    for example in summary.get("invalid_examples", [])[:5]:
        _err(f"  invalid at {example['at']}: {example['field'] + ': ' if example['field'] else ''}{example['error']}")
    labels = summary.get("labels")
    if labels:
        _err(f"labels: positives {labels['positives']:,} of {labels['labelled']:,}  "
             f"flagged P={labels['flagged']['precision']:.4f} R={labels['flagged']['recall']:.4f}  "
             f"blocked P={labels['blocked']['precision']:.4f} R={labels['blocked']['recall']:.4f}  "
             f"benign flagged {labels['benign_flagged_share']:.2%}  PR-AUC {labels['pr_auc']:.4f}")
    if summary.get("groups"):
        from .report import print_groups

        print_groups(summary["groups"])


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--rules", "new_rules", required=True, type=click.Path(exists=True), help="the proposed rule set")
@click.option("--baseline", required=True, type=click.Path(exists=True), help="the rule set in production")
@click.option("--model", "model", type=click.Path(), help="score both with this anomaly model [default: $RISKSTREAM_MODEL]")
@click.option("--label-field", help="field holding the ground-truth label")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
@click.option("--report", "report_path", help="write the full comparison JSON here")
@click.option("--show", type=int, default=15, show_default=True, help="changed orders to print")
def backtest(input_path, new_rules, baseline, model, label_field, columns, report_path, show) -> None:
    """Compare a proposed rule set with the baseline on the same history."""
    from .backtest import backtest as run
    from .history import read_records, total_bytes
    from .report import print_comparison

    new, old = load_engine(new_rules), load_engine(baseline)
    scoring = (load_scoring(new, model), load_scoring(old, model))
    counter = [0]
    records = read_records([input_path], _columns(columns), counter)
    with progress_bar(total_bytes([input_path]), "backtesting") as update:
        comparison = run(new, old, _ticking(records, counter, update), label_field=label_field, scoring=scoring)
    data = comparison.to_dict()
    _write_json(report_path, data)
    print_comparison(data, show)


def _attach_commands() -> None:
    from .localkafka.cli import kafka
    from .model.cli import model
    from .pipeline_cli import decisions, produce
    from .stream.demo import demo
    from .stream.worker import worker

    for command in (kafka, produce, decisions, worker, demo, model):
        main.add_command(command)


_attach_commands()


@main.group()
def rules() -> None:
    """Validate rule files and export their schema."""


@rules.command("check")
@click.argument("path", required=False, type=click.Path())
def rules_check(path: str | None) -> None:
    """Validate a rule file or directory; exit 1 with file:line: field: problem on error."""
    from .rules import RuleFileError, load_ruleset

    target = Path(path) if path else settings_from_env().rules_path
    try:
        ruleset = load_ruleset(target)
    except RuleFileError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        _err(f"{len(exc.problems)} problem(s) in {target}")
        raise SystemExit(1)
    active = sum(r.mode == "active" for r in ruleset.rules)
    click.echo(f"{target}: ok - ruleset {ruleset.version}, {len(ruleset.rules)} rules ({active} active, "
               f"{len(ruleset.rules) - active} shadow), {len(ruleset.sales)} sales, {len(ruleset.lists)} lists")


@rules.command("schema")
def rules_schema() -> None:
    """Print the JSON Schema of a rule file (for editor autocompletion)."""
    from .rules.model import RuleFile

    schema = RuleFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "riskstream rule file"
    click.echo(orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode())


@main.group()
def cluster() -> None:
    """Clusters of linked accounts, for reviewers (replays the input to build the graph)."""


def _review_data(input_path: str, rules: str | None):
    from .graph.review import replay_for_review
    from .history import read_records

    try:
        return replay_for_review(load_engine(rules), read_records([input_path]))
    except ValueError as exc:
        raise click.ClickException(str(exc))


@cluster.command("list")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True), help="order history (JSONL or CSV)")
@click.option("--rules", type=click.Path(exists=True), help="a rule set with a graph [default: ./rules or bundled]")
@click.option("--top", type=int, default=20, show_default=True, help="clusters to list")
@click.option("--flagged", is_flag=True, help="only clusters with held or frozen orders")
def cluster_list(input_path: str, rules: str | None, top: int, flagged: bool) -> None:
    """The largest (or flagged) clusters, to find an id for `cluster show`."""
    from .graph.review import print_list

    print_list(_review_data(input_path, rules), top=top, flagged_only=flagged)


@cluster.command("show")
@click.argument("cluster_id")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True), help="order history (JSONL or CSV)")
@click.option("--rules", type=click.Path(exists=True), help="a rule set with a graph [default: ./rules or bundled]")
@click.option("-o", "--output", "picture", help="write the account-entity picture here (.png or .svg)")
def cluster_show(cluster_id: str, input_path: str, rules: str | None, picture: str | None) -> None:
    """Print a cluster: members, shared entities by kind, orders and decisions; draw its graph."""
    from .graph.review import draw, find, print_cluster

    data = _review_data(input_path, rules)
    found, note = find(data, cluster_id)
    if found is None:
        raise click.ClickException(f"no cluster {cluster_id} in {input_path} (riskstream cluster list shows the ids)")
    print_cluster(data, found, note)
    if picture:
        try:
            written = draw(data, found, picture)
        except ValueError as exc:
            raise click.ClickException(str(exc))
        _err(f"wrote {written}")


@main.group()
def bench() -> None:
    """Benchmarks that print figures."""


@bench.command("replay")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--rules", type=click.Path(exists=True))
@click.option("--repeat", type=int, default=1, show_default=True)
@click.option("--model", type=click.Path(exists=True), help="score with this anomaly model too")
def bench_replay(input_path: str, rules: str | None, repeat: int, model: str | None) -> None:
    """Replay speed beside a bare JSON-parse loop over the same file, and peak RSS."""
    from .benchmarks import bench_replay as run

    click.echo(orjson.dumps(run(input_path, rules, repeat, model), option=orjson.OPT_INDENT_2).decode())


@bench.command("model")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--model", required=True, type=click.Path(exists=True), help="models/NAME.skops")
@click.option("--rules", type=click.Path(exists=True))
@click.option("--rows", type=int, default=20_000, show_default=True, help="orders whose feature rows are scored")
def bench_model(input_path: str, model: str, rules: str | None, rows: int) -> None:
    """Microseconds per row of model scoring, by batch size (1, 10, 100, 1000)."""
    from .benchmarks import bench_model as run

    click.echo(orjson.dumps(run(input_path, model, rules, rows), option=orjson.OPT_INDENT_2).decode())


@bench.command("memory")
@click.option("--orders", type=int, default=1_000_000, show_default=True)
@click.option("--days", type=int, default=10, show_default=True, help="spread the orders over this many days")
@click.option("--rules", type=click.Path(exists=True))
def bench_memory(orders: int, days: int, rules: str | None) -> None:
    """Peak RSS of a replay as the input grows: run with --days 1 and --days 10."""
    from .benchmarks import bench_memory as run

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
    from .benchmarks import bench_graph as run

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
    from .benchmarks import bench_address as run

    click.echo(orjson.dumps(run(input_path, similarity, guard), option=orjson.OPT_INDENT_2).decode())


@bench.command("kill")
@click.option("--bootstrap", default="127.0.0.1:9092", show_default=True, help="a running broker (riskstream kafka up)")
@click.option("--orders", type=int, default=100_000, show_default=True)
@click.option("--kills", type=int, default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def bench_kill(bootstrap: str, orders: int, kills: int, seed: int) -> None:
    """SIGKILL a worker at random moments while it decides ORDERS; count missing,
    conflicting and replay-differing decisions (all should be 0)."""
    from .stream.chaos import kill_test

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
    from .localkafka import LocalKafka
    from .profiling import ProfilerMissing, py_spy
    from .stream.benchstream import bench_stream as run

    if profile:
        try:
            py_spy()
        except ProfilerMissing as exc:
            raise click.ClickException(str(exc)) from None
    broker = None
    if bootstrap is None:
        broker = LocalKafka(port=port)
        started = not broker.status().get("running")
        bootstrap = broker.up()
        broker = broker if started else None
    try:
        result = run(bootstrap, orders=orders, rates=rates, latency_seconds=latency_seconds, seed=seed, rules=rules,
                     report=lambda line: click.echo(line, err=True), profile=profile)
    finally:
        if broker is not None:
            broker.down()
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
