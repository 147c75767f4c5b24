"""The audit chain: intact after real console use, and ``riskstream audit verify`` names the first tampered row."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import delete, update

from riskstream.cli import main
from riskstream.console.audit import GENESIS, append, verify_chain
from riskstream.console.models import AuditRow


def test_a_changed_or_removed_row_breaks_the_chain_at_that_row(sqlite_store, tmp_path):
    with sqlite_store.session() as session:
        for n in range(6):
            append(session, "alice", "assign", f"case-{n}", {"assignee": "alice", "n": n})
    with sqlite_store.session() as session:
        first = session.get(AuditRow, 1)
        assert first.prev_hash == GENESIS and session.get(AuditRow, 2).prev_hash == first.hash
    store_path = str(tmp_path / "cases.db")
    runner = CliRunner()
    clean = runner.invoke(main, ["audit", "verify", "-s", store_path])
    assert clean.exit_code == 0 and "audit chain intact: 6 rows" in clean.output

    with sqlite_store.session() as session:  # someone rewrites who was assigned in row 4
        session.execute(update(AuditRow).where(AuditRow.id == 4).values(detail='{"assignee":"mallory","n":3}'))
    broken = runner.invoke(main, ["audit", "verify", "-s", store_path])
    assert broken.exit_code == 1
    assert "audit chain broken at row 4: its contents do not match its hash" in broken.output
    assert "3 rows before it are intact" in broken.output

    with sqlite_store.session() as session:
        session.execute(update(AuditRow).where(AuditRow.id == 4).values(detail='{"assignee":"alice","n":3}'))
    assert verify_chain(sqlite_store).ok
    with sqlite_store.session() as session:
        session.execute(delete(AuditRow).where(AuditRow.id == 2))
    report = verify_chain(sqlite_store)
    assert (report.broken_id, report.problem) == (3, "row 2 is missing (next row is 3)")
