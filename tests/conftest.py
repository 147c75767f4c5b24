"""Fixtures shared by the console tests and the integration tests: a replayed simulated sale and the
case-store oracle (what the store must hold for a list of decision records)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from riskstream.cli import main
from riskstream.console.ingest import case_id_for
from riskstream.console.models import Case, Order
from riskstream.console.store import CaseStore
from riskstream.decisions import Outcome

ORDERS = 3000
SEED = 3


@pytest.fixture(scope="session")
def replayed(tmp_path_factory) -> tuple[Path, list[dict]]:
    """A simulated sale (orders file) and its decisions from ``riskstream replay`` (all revisions, in order)."""
    where = tmp_path_factory.mktemp("replayed")
    orders, decisions = where / "orders.jsonl", where / "decisions.jsonl"
    runner = CliRunner()
    made = runner.invoke(main, ["simulate", "--orders", str(ORDERS), "--seed", str(SEED), "-o", str(orders)])
    assert made.exit_code == 0, made.output
    done = runner.invoke(main, ["replay", str(orders), "-o", str(decisions)])
    assert done.exit_code == 0, done.output
    return orders, [orjson.loads(line) for line in decisions.read_bytes().splitlines() if line.strip()]


def expected_cases(decisions: list[dict]) -> dict[str, dict]:
    """What the store must hold, worked out from the records: per case its orders, outcome and risk."""
    latest: dict[str, dict] = {}
    flagged: set[str] = set()
    for record in decisions:
        order = record["order_id"]
        if Outcome.parse(record["action"]).flagged:
            flagged.add(order)
        if order not in latest or record["revision"] > latest[order]["revision"]:
            latest[order] = record
    cases: dict[str, dict] = defaultdict(lambda: {"orders": set(), "outcome": 0, "risk": 0.0, "amount": None,
                                                  "sale": None})
    sale_at: dict[str, tuple[str, str]] = {}
    for order in sorted(flagged):
        record = latest[order]
        case_id = case_id_for(record)
        case = cases[case_id]
        case["orders"].add(order)
        case["outcome"] = max(case["outcome"], int(Outcome.parse(record["action"])))
        case["risk"] = max(case["risk"], float(record["score"]))
        if record.get("amount") is not None:  # the total of its orders' amounts
            case["amount"] = round((case["amount"] or 0.0) + record["amount"], 6)
        if record.get("sale") is not None and (case_id not in sale_at or (record["event_time"], order) > sale_at[case_id]):
            sale_at[case_id] = (record["event_time"], order)  # the sale of its latest order that has one
            case["sale"] = record["sale"]
    return dict(cases)


def stored_cases(store: CaseStore) -> dict[str, dict]:
    with store.session() as session:
        orders = defaultdict(set)
        for case_id, order_id in session.execute(select(Order.case_id, Order.order_id)):
            orders[case_id].add(order_id)
        return {c.id: {"orders": orders[c.id], "outcome": c.outcome, "risk": c.risk, "sale": c.sale,
                       "amount": None if c.amount is None else round(c.amount, 6)}
                for c in session.scalars(select(Case).where(Case.orders_count > 0))}


@pytest.fixture(scope="session")
def case_oracle():
    """``(expected_cases, stored_cases)``: the cases a list of decisions must make, and those a store holds."""
    return expected_cases, stored_cases
