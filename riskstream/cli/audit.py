"""``riskstream audit verify``: check the console's audit chain."""

from __future__ import annotations

import click

from ..terminal import err


@click.group()
def audit() -> None:
    """The console's audit trail (rows chained by hash)."""


@audit.command("verify")
@click.option("--store", "-s", "store_target",
              help="case store: a SQLite path or a SQLAlchemy URL [default: $RISKSTREAM_CASES_URL or var/cases.db]")
def verify(store_target: str | None) -> None:
    """Walk the audit chain; exit 1 naming the first broken row."""
    from ..console.audit import verify_chain
    from ..console.store import CaseStore

    store = CaseStore.open(store_target)
    try:
        report = verify_chain(store)
    finally:
        store.close()
    if not report.ok:
        raise click.ClickException(f"audit chain broken at row {report.broken_id}: {report.problem} "
                                   f"({report.rows:,} rows before it are intact)")
    err(f"audit chain intact: {report.rows:,} rows")
