"""``riskstream cases ingest | export-labels | backfill``: the reviewers' case store from the command line."""

from __future__ import annotations

import signal

import click

from ..terminal import columns_of, err, progress_bar

STORE_HELP = "case store: a SQLite path or a SQLAlchemy URL [default: $RISKSTREAM_CASES_URL or var/cases.db]"


@click.group()
def cases() -> None:
    """The reviewers' case store."""


@cases.command("ingest")
@click.option("--store", "-s", "store_target", help=STORE_HELP)
@click.option("--bootstrap", "-b", help="Kafka bootstrap servers [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--group", default="riskstream-cases", show_default=True, help="consumer group")
@click.option("--idle-exit", type=float, default=None,
              help="stop after this many seconds without a record (default: run until interrupted)")
def ingest(store_target: str | None, bootstrap: str | None, group: str, idle_exit: float | None) -> None:
    """Follow risk-review and risk-decisions into the case store (one transaction per poll)."""
    from kafka.errors import KafkaError

    from ..console.consumer import CaseConsumer
    from ..console.store import CaseStore

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    store = CaseStore.open(store_target)
    try:
        with CaseConsumer(store, bootstrap, group=group) as consumer:
            try:
                progress = consumer.run(idle_exit=idle_exit, should_stop=lambda: bool(stopping))
            except KeyboardInterrupt:
                progress = consumer.progress
    except KafkaError as exc:
        raise click.ClickException(f"case ingest failed: {exc!r}") from None
    finally:
        store.close()
    result = progress.result
    err(f"read {progress.records:,} records in {progress.batches:,} batches: {result.added:,} revisions stored, "
        f"{result.duplicates:,} duplicates, {result.ignored:,} allowed orders outside any case, "
        f"{progress.dead:,} refused (dead-lettered), {len(result.cases):,} cases changed")


@cases.command("export-labels")
@click.argument("history", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--store", "-s", "store_target", help=STORE_HELP)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="labelled orders (JSONL, riskstream.order/v1 with the label field; - for stdout)")
@click.option("--label-field", default="label", show_default=True, help="field that holds the label (1 or 0)")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
@click.option("--strict", is_flag=True, help="exit 1 when a labelled order is missing from HISTORY")
def export_labels(history, store_target, output, label_field, columns, strict) -> None:
    """Write the orders of HISTORY (JSONL or CSV) that reviewers labelled: confirmed scalping = 1, false positive
    or release = 0, ready for `riskstream model train --label-field label` and `riskstream replay`."""
    from ..console.labels import export_labels as export
    from ..console.store import CaseStore
    from ..offline.history import open_output, read_records

    try:
        with CaseStore.open(store_target) as store, open_output(output) as out:
            result = export(store, read_records(list(history), columns_of(columns)), out.write,
                            label_field=label_field)
    except ValueError as exc:  # LabelExportError names the history's line
        raise click.ClickException(str(exc)) from None
    err(result.summary())
    if strict and result.missing:
        raise SystemExit(1)


@cases.command("backfill")
@click.argument("history", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--store", "-s", "store_target", help=STORE_HELP)
@click.option("--rules", type=click.Path(exists=True, file_okay=False),
              help="rules whose flash sales the orders are matched to [default: $RISKSTREAM_RULES, ./rules, bundled]")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
def backfill(history, store_target, rules, columns) -> None:
    """Give orders stored before the sale and amount columns (migration 0004) their sale and amount from the
    order HISTORY (JSONL or CSV), and their cases their sale and total amount, for the queue's filters."""
    from ..assembly import load_rules
    from ..console.backfill import backfill as run
    from ..console.backfill import orders_without_amount
    from ..console.store import CaseStore
    from ..offline.history import read_records

    ruleset = load_rules(rules)
    try:
        with CaseStore.open(store_target) as store:
            wanting = orders_without_amount(store)
            with progress_bar(len(wanting) or None, "backfilling", unit="orders") as update:
                result = run(store, read_records(list(history), columns_of(columns)), ruleset, progress=update,
                             wanting=wanting)
    except ValueError as exc:  # BackfillError names the history's line
        raise click.ClickException(str(exc)) from None
    err(result.summary())
