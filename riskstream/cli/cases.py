"""``riskstream cases ingest | export-labels``: the reviewers' case store from the command line."""

from __future__ import annotations

import signal

import click

from ..terminal import err

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
    from ..console.store import CaseStore, StoreError

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        store = CaseStore.open(store_target)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
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
