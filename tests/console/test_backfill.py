"""`riskstream cases backfill`: orders stored before migration 0004 get their sale and amount from the history."""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text

from riskstream.cli import main
from riskstream.console.backfill import backfill, orders_without_amount
from riskstream.console.ingest import CaseIngest
from riskstream.console.models import Case, Order, SaleSeen
from riskstream.console.store import CaseStore
from riskstream.offline.history import read_records
from riskstream.rules import load_ruleset

OLD_FIELDS = ("sale", "amount", "currency")  # what decision records carried only from 0004 on


def as_before_0004(decisions: list[dict]) -> list[dict]:
    return [{k: v for k, v in d.items() if k not in OLD_FIELDS} for d in decisions]


def fresh_store_target(kind: str, tmp_path, request) -> str:
    """A new SQLite file, or a new database on the test PostgreSQL server."""
    if kind == "sqlite":
        return str(tmp_path / "cases.db")
    url = request.getfixturevalue("postgres_url")
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text("CREATE DATABASE backfill"))
    server.dispose()
    return url.rsplit("/", 1)[0] + "/backfill"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_backfill_gives_old_cases_the_sale_and_amount_that_new_records_give(kind, tmp_path, request, replayed,
                                                                           case_oracle):
    expected_cases, stored_cases = case_oracle
    orders, decisions = replayed
    want = expected_cases(decisions)
    assert sum(1 for c in want.values() if c["sale"]) > 10 and all(c["amount"] for c in want.values())
    path = fresh_store_target(kind, tmp_path, request)
    with CaseStore.open(path) as store:
        assert not CaseIngest(store).ingest(as_before_0004(decisions)).rejected
        before = stored_cases(store)
        assert all(c["sale"] is None and c["amount"] is None for c in before.values())
        assert {k: c["orders"] for k, c in before.items()} == {k: c["orders"] for k, c in want.items()}
        with store.session() as session:
            revisions = {c.id: c.revision for c in session.scalars(select(Case))}
    runner = CliRunner()
    done = runner.invoke(main, ["cases", "backfill", str(orders), "--store", path])
    assert done.exit_code == 0, done.output
    held = sum(len(c["orders"]) for c in want.values())
    assert f"of {held:,} orders without an amount filled" in done.output, done.output
    with CaseStore.open(path) as store:
        assert stored_cases(store) == want  # exactly what ingesting the 0004 records makes
        assert orders_without_amount(store) == set()
        with store.session() as session:
            assert {c.id: c.revision for c in session.scalars(select(Case))} == revisions  # verdicts stay valid
            sales = set(session.scalars(select(SaleSeen.id)))
            assert sales == {c["sale"] for c in want.values() if c["sale"]}
            currencies = set(session.scalars(select(Order.currency)))
            assert None not in currencies
    again = runner.invoke(main, ["cases", "backfill", str(orders), "--store", path])
    assert again.exit_code == 0 and "0 of 0 orders without an amount filled" in again.output, again.output


def test_orders_missing_from_the_history_are_named_and_a_bad_line_stops_with_its_place(tmp_path, replayed):
    orders, decisions = replayed
    lines = orders.read_bytes().splitlines()
    store = CaseStore.open(tmp_path / "cases.db")
    with store:
        CaseIngest(store).ingest(as_before_0004(decisions))
        wanting = orders_without_amount(store)
        kept = [line for line in lines if orjson.loads(line)["order_id"] not in sorted(wanting)[:3]]
        part = tmp_path / "part.jsonl"
        part.write_bytes(b"\n".join(kept) + b"\n")
        result = backfill(store, read_records([str(part)]), load_ruleset("rules"), batch=50)
        assert result.filled == len(wanting) - 3 and result.missing == sorted(wanting)[:3]
        assert "3 orders are not in the history: " + ", ".join(sorted(wanting)[:3]) in result.summary()
        assert orders_without_amount(store) == set(sorted(wanting)[:3])

    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"\n".join(lines[:3] + [b'{"order_id": "x"}'] + lines[3:]) + b"\n")
    done = CliRunner().invoke(main, ["cases", "backfill", str(broken), "--store", str(tmp_path / "cases.db")])
    assert done.exit_code == 1 and f"{broken}:4: not a valid order" in done.output, done.output


def test_a_store_from_before_0004_is_filled_after_its_upgrade(tmp_path, old_store):
    old_store(
        tmp_path / "old.db", "0003",  # a lone case and its order as a 0003 store holds them
        "INSERT INTO cases (id, status, outcome, risk, size, orders_count, rules, opened_at, updated_at, "
        "first_event, last_event, revision) VALUES ('order:o1', 'open', 3, 40, 1, 1, ',device-accounts,', "
        "'2026-11-11 00:00:00', '2026-11-11 00:00:00', '2026-11-11T00:00:01+08:00', '2026-11-11T00:00:01+08:00', 1)",
        "INSERT INTO orders (order_id, case_id, account_id, action, score, revision, reasons, ruleset_version, "
        "event_time, decided_at) VALUES ('o1', 'order:o1', 'u-o1', 3, 40, 1, '[]', 'r', "
        "'2026-11-11T00:00:01+08:00', '2026-11-11T00:00:09Z')")
    ruleset = load_ruleset("rules")
    sale = next(iter(ruleset.sales.values()))
    order = {"schema": "riskstream.order/v1", "order_id": "o1", "account_id": "u-o1",
             "event_time": sale.start.isoformat(), "sale_id": sale.id, "currency": "CNY",
             "items": [{"sku": sorted(sale.skus)[0], "quantity": 2, "unit_price": 99.5}]}
    history = tmp_path / "orders.jsonl"
    history.write_bytes(orjson.dumps(order) + b"\n")
    done = CliRunner().invoke(main, ["cases", "backfill", str(history), "--store", str(tmp_path / "old.db")])
    assert done.exit_code == 0 and "1 of 1 orders without an amount filled" in done.output, done.output
    with CaseStore.open(tmp_path / "old.db") as store, store.session() as session:
        case = session.get(Case, "order:o1")
        assert (case.sale, case.amount, case.revision) == (sale.id, 199.0, 1)
        assert session.scalar(select(func.count()).select_from(SaleSeen)) == 1
