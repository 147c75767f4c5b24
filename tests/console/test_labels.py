"""Labels out of the case store: reviewers' verdicts on a replayed sale become labelled orders that
`riskstream replay` and `riskstream model train` take."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from riskstream.cli import main
from riskstream.console.ingest import CaseIngest
from riskstream.console.labels import order_labels
from riskstream.console.models import Case, Order, VerdictRow
from riskstream.events import parse_order


def _label(store, case_id: str, label: int, action: str, accounts: list[str] | None = None) -> None:
    """A reviewer's verdict as the store keeps it: the case's label and the verdict record."""
    now = datetime.now(timezone.utc)
    with store.session() as session:
        case = session.get(Case, case_id)
        case.label, case.verdict_action, case.verdict_at, case.status = label, action, now, "closed"
        record = {"action": action, "case_id": case_id, **({"accounts": accounts} if accounts else {})}
        session.add(VerdictRow(verdict_id=f"v-{case_id}", case_id=case_id, reviewer="alice", action=action,
                               created_at=now, record=record))


@pytest.fixture
def labelled(sqlite_store, replayed):
    """A store with two rings confirmed (the second for two chosen accounts) and three lone orders released."""
    orders_path, decisions = replayed
    CaseIngest(sqlite_store).ingest(decisions)
    with sqlite_store.session() as session:
        rings = session.scalars(select(Case).where(Case.cluster_id.is_not(None), Case.orders_count > 1)
                                .order_by(Case.orders_count.desc(), Case.id).limit(2)).all()
        lone = session.scalars(select(Case).where(Case.cluster_id.is_(None)).order_by(Case.id).limit(3)).all()
        members = {c.id: sorted({o.account_id for o in session.scalars(select(Order).where(Order.case_id == c.id))})
                   for c in rings + lone}
        orders = {c.id: {o.order_id: o.account_id for o in session.scalars(select(Order).where(Order.case_id == c.id))}
                  for c in rings + lone}
    assert len(rings) == 2 and len(lone) == 3, "the simulated sale has too few cases"
    first, second = rings[0].id, rings[1].id
    chosen = members[second][:2]
    _label(sqlite_store, first, 1, "freeze")
    _label(sqlite_store, second, 1, "freeze", chosen)
    for case in lone:
        _label(sqlite_store, case.id, 0, "false_positive")
    expected = {o: 1 for o in orders[first]}
    expected.update({o: 1 for o, account in orders[second].items() if account in chosen})
    expected.update({o: 0 for case in lone for o in orders[case.id]})
    return sqlite_store, orders_path, expected


def test_labels_follow_the_verdicts(labelled):
    store, _, expected = labelled
    assert order_labels(store) == expected


def test_export_writes_labelled_orders_in_the_contract(labelled, tmp_path):
    store, orders_path, expected = labelled
    out = tmp_path / "labels.jsonl"
    url = str(store.engine.url)
    done = CliRunner().invoke(main, ["cases", "export-labels", str(orders_path), "--store", url, "-o", str(out)])
    assert done.exit_code == 0, done.output
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert {o["order_id"]: o["label"] for o in written} == expected
    assert all(parse_order(o).order_id for o in written)  # each line is a valid riskstream.order/v1 event
    originals = {o["order_id"]: o for o in map(orjson.loads, orders_path.read_bytes().splitlines())}
    assert all({k: v for k, v in o.items() if k != "label"} == {k: v for k, v in originals[o["order_id"]].items()
                                                                 if k != "label"} for o in written)
    positives = sum(expected.values())
    assert f"{len(expected):,} labelled orders written ({positives:,} confirmed" in done.output

    report = tmp_path / "report.json"
    replayed = CliRunner().invoke(main, ["replay", str(out), "--label-field", "label", "-o", str(tmp_path / "d.jsonl"),
                                         "--report", str(report)])
    assert replayed.exit_code == 0, replayed.output
    labels = orjson.loads(report.read_bytes())["labels"]
    assert labels["positives"] == positives and labels["labelled"] == len(expected) and labels["unlabelled"] == 0

    model = tmp_path / "labelled.skops"
    trained = CliRunner().invoke(main, ["model", "train", str(out), "--label-field", "label", "--trees", "10",
                                        "-o", str(model)])
    assert trained.exit_code == 0, trained.output
    assert model.exists()


def test_orders_missing_from_the_history_are_reported(labelled, tmp_path):
    store, orders_path, expected = labelled
    short = tmp_path / "short.jsonl"
    lines = orders_path.read_bytes().splitlines()
    dropped = next(line for line in lines if orjson.loads(line)["order_id"] in expected)
    short.write_bytes(b"\n".join(line for line in lines if line != dropped) + b"\n")
    args = ["cases", "export-labels", str(short), "--store", str(store.engine.url), "-o", str(tmp_path / "o.jsonl")]
    lenient = CliRunner().invoke(main, args)
    assert lenient.exit_code == 0 and "1 labelled orders are not in the history" in lenient.output
    assert orjson.loads(dropped)["order_id"] in lenient.output
    assert CliRunner().invoke(main, args + ["--strict"]).exit_code == 1


def test_a_bad_history_line_is_named(labelled, tmp_path):
    store, _, _ = labelled
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"order_id": "x", "account_id": "a", "event_time": "yesterday", "items": []}\n')
    done = CliRunner().invoke(main, ["cases", "export-labels", str(bad), "--store", str(store.engine.url),
                                     "-o", str(tmp_path / "o.jsonl")])
    assert done.exit_code == 1
    assert f"{bad}:1: not a valid order" in done.output
