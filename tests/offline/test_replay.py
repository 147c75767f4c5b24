"""The offline driver and its commands: replay, backtest, rules check/schema."""

import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from riskstream.cli import main
from riskstream.offline.labels import average_precision, parse_label
from riskstream.testing import make_order

RULES_SHIPPED = Path(__file__).resolve().parents[2] / "rules"

RULES = """
ruleset: {version: test, thresholds: {review: 40, hold: 70}}
rules:
  - id: account-orders
    velocity: {key: [account], metric: count, window: 1h}
    above: 1
    outcome: hold
"""


@pytest.fixture
def rules_dir(tmp_path):
    path = tmp_path / "rules"
    path.mkdir()
    (path / "rules.yaml").write_text(RULES)
    return path


def write_jsonl(path, rows):
    path.write_bytes(b"".join((row if isinstance(row, bytes) else orjson.dumps(row)) + b"\n" for row in rows))
    return path


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def test_replay_writes_decisions_and_a_report_and_counts_bad_lines(tmp_path, rules_dir):
    rows = [
        make_order(0, account_id="a", label=0),
        make_order(1, account_id="a", label=1),
        b"{broken json",
        make_order(2, account_id="b", items=[], label=0),
        make_order(3, account_id="c", label="1"),
        b"",
    ]
    dup = dict(rows[0])
    rows.append(dup)
    source = write_jsonl(tmp_path / "orders.jsonl", rows)
    result = run("replay", source, "--rules", rules_dir, "--label-field", "label",
                 "-o", tmp_path / "d.jsonl", "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [d["action"] for d in decisions] == ["allow", "hold", "allow"]
    assert decisions[1]["reasons"][0]["rule"] == "account-orders"
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["orders"] == 3 and report["invalid"] == 2 and report["duplicates"] == 1
    assert report["actions"] == {"allow": 2, "challenge": 0, "review": 0, "hold": 1, "freeze": 0}
    assert report["orders_per_second"] > 0
    assert {e["at"] for e in report["invalid_examples"]} == {f"{source}:3", f"{source}:4"}
    assert report["invalid_examples"][1]["field"] == "items"
    labels = report["labels"]
    assert labels["positives"] == 2
    assert labels["blocked"] == {"precision": 1.0, "recall": 0.5, "count": 1}
    assert labels["flagged"]["recall"] == 0.5


def test_replay_reads_csv_with_a_column_mapping(tmp_path, rules_dir):
    csv_file = tmp_path / "export.csv"
    csv_file.write_text(
        "OrderNo,Time,Buyer,sku,quantity,unit_price,ip,is_scalper\n"
        "o1,2026-11-11T20:00:00+08:00,a,FS-1,1,10.5,10.0.0.1,0\n"
        "o2,2026-11-11T20:00:01+08:00,a,FS-1,1,10.5,10.0.0.1,1\n"
        "o3,2026-11-11T20:00:02+08:00,b,FS-1,zero,10.5,10.0.0.1,0\n",
        encoding="utf-8",
    )
    result = run("replay", csv_file, "--rules", rules_dir, "--label-field", "is_scalper",
                 "--column", "order_id=OrderNo", "--column", "event_time=Time", "--column", "account_id=Buyer",
                 "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["orders"] == 2 and report["invalid"] == 1
    assert report["invalid_examples"][0]["field"] == "items[0].quantity"
    assert report["labels"]["blocked"]["recall"] == 1.0

    bad = run("replay", csv_file, "--rules", rules_dir, "--column", "order_id=Nope")
    assert bad.exit_code != 0 and "no column 'Nope'" in bad.output


def test_replay_with_invalid_rules_exits_with_the_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: r\n    match: {quantity: {gt: 1}}\n    outcome: maybe\n")
    source = write_jsonl(tmp_path / "o.jsonl", [make_order()])
    result = run("replay", source, "--rules", bad)
    assert result.exit_code == 2
    assert f"{bad}:4: rules[0].outcome: unknown outcome 'maybe'" in result.output


def test_rules_check_and_schema(tmp_path, rules_dir):
    ok = run("rules", "check", rules_dir)
    assert ok.exit_code == 0 and "ok - ruleset test+" in ok.output
    (rules_dir / "more.yaml").write_text("rules:\n  - id: x\n    velocity: {key: [ip], window: 1h}\n    score: 1\n")
    bad = run("rules", "check", rules_dir)
    assert bad.exit_code == 1
    assert f"{rules_dir / 'more.yaml'}:2: rules[0]: a velocity rule needs `above`" in bad.output
    schema = json.loads(run("rules", "schema").output)
    assert schema["title"] == "riskstream rule file" and "Rule" in schema["$defs"]


def test_backtest_shows_what_a_rule_change_does(tmp_path, rules_dir):
    new = tmp_path / "new.yaml"
    new.write_text(RULES.replace("above: 1", "above: 2") + """
  - id: big-order
    mode: shadow
    match: {quantity: {ge: 3}}
    outcome: review
""")
    rows = [make_order(t, account_id="a", label=int(t > 0), quantity=1 + t) for t in range(3)]
    source = write_jsonl(tmp_path / "o.jsonl", rows)
    result = run("backtest", source, "--rules", new, "--baseline", rules_dir, "--label-field", "label",
                 "--report", tmp_path / "cmp.json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "cmp.json").read_text())
    assert data["changed"] == 1
    assert data["baseline"]["actions"]["hold"] == 2 and data["new"]["actions"]["hold"] == 1
    change = data["changes"][0]
    assert (change["baseline"], change["new"], change["label"]) == ("hold", "allow", 1)
    assert data["rules"]["account-orders"] == {"baseline": 2, "new": 1, "delta": -1}
    assert data["rules"]["big-order (shadow)"] == {"baseline": 0, "new": 1, "delta": 1}
    assert data["new"]["labels"]["blocked"]["recall"] == 0.5
    assert "changed orders" in result.output


def test_labels_and_average_precision():
    assert [parse_label(v) for v in (1, "1", True, "true", 0, "0", False, "no", None, "x", 2)] == [
        1, 1, 1, 1, 0, 0, 0, 0, None, None, None]
    import numpy as np

    labels = np.array([1, 0, 1, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.1])
    # sklearn.metrics.average_precision_score gives 0.7555... for these
    assert average_precision(labels, scores) == pytest.approx(1 / 3 * (1 + 2 / 3 + 3 / 5))
    assert average_precision(np.array([0, 0]), np.array([1.0, 2.0])) == 0.0


def test_backtest_compares_final_decisions_after_escalation(tmp_path):
    """The shipped rules against themselves: nothing changes, and both sides report what replay
    reports, escalations included (a ring's earlier orders are frozen by a later revision)."""
    from riskstream.sim import write_jsonl as simulate_to

    source = tmp_path / "o.jsonl"
    simulate_to(source, 4000, seed=3)
    assert run("replay", source, "--rules", RULES_SHIPPED, "--label-field", "label",
               "--report", tmp_path / "replay.json").exit_code == 0
    replayed = json.loads((tmp_path / "replay.json").read_text())
    assert replayed.get("escalations", 0) > 0
    result = run("backtest", source, "--rules", RULES_SHIPPED, "--baseline", RULES_SHIPPED, "--label-field", "label",
                 "--report", tmp_path / "cmp.json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "cmp.json").read_text())
    assert data["changed"] == 0 and data["orders"] == replayed["orders"]
    for side in ("new", "baseline"):
        assert data[side]["actions"] == replayed["actions"]
        assert data[side]["labels"] == replayed["labels"]
    assert sum(m["orders"] for m in data["moves"]) == replayed["orders"]
    assert all(m["baseline"] == m["new"] for m in data["moves"])


def test_backtest_treats_a_late_repeated_order_alike_on_both_sides(tmp_path, rules_dir):
    """The baseline remembers order ids for a day, the new rules (a week-long window) for a
    week: an order sent again two days later is a duplicate for both sides, as it would
    not be for the baseline alone, so the two still compare order by order."""
    new = tmp_path / "new.yaml"
    new.write_text(RULES.replace("window: 1h", "window: 7d"))
    first = make_order(0, order_id="o-1", account_id="a")
    later = 2 * 86400
    rows = [first, make_order(600, account_id="b"), make_order(later, account_id="c"),
            dict(first)]
    source = write_jsonl(tmp_path / "o.jsonl", rows)
    result = run("backtest", source, "--rules", new, "--baseline", rules_dir, "--report", tmp_path / "cmp.json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "cmp.json").read_text())
    assert data["orders"] == 3
    assert data["new"]["duplicates"] == data["baseline"]["duplicates"] == 1
    alone = tmp_path / "alone.json"
    assert run("replay", source, "--rules", rules_dir, "--report", alone).exit_code == 0
    assert json.loads(alone.read_text())["duplicates"] == 0  # the baseline alone has forgotten it
