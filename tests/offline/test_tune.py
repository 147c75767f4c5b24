"""``riskstream tune`` on a simulated day with the shipped rules: evidence, proposal, rules directory, report."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from riskstream.cli import main
from riskstream.engine import DecisionEngine
from riskstream.offline.evidence import Policy, current_settings, gather
from riskstream.offline.history import read_records
from riskstream.rules import load_ruleset
from riskstream.sim import write_jsonl

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    path = tmp_path_factory.mktemp("tune") / "day.jsonl"
    write_jsonl(path, 20_000, seed=5)
    return path


@pytest.fixture(scope="module")
def tuned(day, tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned") / "rules"
    result = CliRunner().invoke(main, ["tune", str(day), "--label-field", "label", "--rules", str(RULES), "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, result.output, json.loads((out / "tune.json").read_text())


def test_one_replay_gives_each_velocity_rules_value_and_the_policy_reproduces_the_engine(day):
    ruleset = load_ruleset(RULES)
    evidence = gather(DecisionEngine, ruleset, read_records([str(day)]), "label")
    assert len(evidence) == 20_000 and set(np.unique(evidence.labels)) == {0, 1}
    for rule in evidence.rules:
        if rule.velocity is not None:  # the probe's value re-derives the rule's own hits at its threshold
            with np.errstate(invalid="ignore"):
                np.testing.assert_array_equal(evidence.values[rule.id] > rule.above, evidence.hits[rule.id], err_msg=rule.id)
    assert (Policy(evidence).actions(current_settings(evidence)) == evidence.actions).all()
    cut = evidence.split(0.7)
    assert (evidence.times < cut).sum() == pytest.approx(14_000, abs=50)


def test_tuned_rules_are_a_complete_directory_with_the_comments_kept(tuned):
    out, output, summary = tuned
    ruleset = load_ruleset(out)
    assert [r.id for r in ruleset.rules] == [r.id for r in load_ruleset(RULES).rules]
    assert ruleset.version.startswith(load_ruleset(RULES).header.version + "-tuned+")
    for source in RULES.glob("*.yaml"):
        written = (out / source.name).read_text()
        comments = [line.strip() for line in source.read_text().splitlines() if line.strip().startswith("#")]
        assert all(c in written for c in comments), source.name
    changed = [r["rule"] for r in summary["rules"] if r["changed"]]
    assert changed, "the shipped rules leave room on the simulated day"
    for rule_id in changed:  # each change is in the printed diff, with its reason as a comment
        assert re.search(r"^\+.*# tuned: ", output, re.M)
        assert any(rule_id in chunk for chunk in output.split("@@")), rule_id


def test_the_proposal_holds_up_on_the_later_part(tuned, day):
    out, output, summary = tuned
    later = summary["backtest"]
    assert summary["later"]["positives"] > 500 and summary["earlier"]["positives"] > 500
    assert later["proposed"]["blocked"]["precision"] >= 0.9
    assert later["proposed"]["blocked"]["recall"] >= later["current"]["blocked"]["recall"]
    assert "later part, proposed rules: blocked P=" in output
    # the backtest used the written directory: replay accepts it and decides the same way
    result = CliRunner().invoke(main, ["replay", str(day), "--rules", str(out), "--label-field", "label"],
                                catch_exceptions=False)
    assert result.exit_code == 0 and "labels: positives" in result.output


def test_the_report_shows_curves_tiers_and_the_diff(tuned):
    out, _, summary = tuned
    page = (out / "report.html").read_text()
    assert page.count("<svg") == sum(1 for r in load_ruleset(RULES).rules if r.velocity is not None)
    assert "Backtest on the later part" in page and "Diff against the input rules" in page
    for part in ("earlier", "later"):
        assert summary["tiers"]["proposed"][part]["blocked"]["hits"] > 0


def test_history_without_labels_is_refused(tmp_path, day):
    unlabelled = tmp_path / "nolabel.jsonl"
    unlabelled.write_bytes(b"".join(day.read_bytes().splitlines(keepends=True)[:500]))
    result = CliRunner().invoke(main, ["tune", str(unlabelled), "--label-field", "verdict", "--rules", str(RULES),
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code != 0 and "no order carries a label in field 'verdict'" in result.output
