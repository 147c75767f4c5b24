"""Micro-batched scoring: the same decisions as one order at a time, in input order;
the score reaches decisions through rules; workers pick up new versions."""

import json
import shutil

import orjson
import pytest
from click.testing import CliRunner

from riskstream import parse_order
from riskstream.cli import main
from riskstream.engine import DecisionEngine
from riskstream.model import FixedModel, ReloadingModel, Scoring, load_model
from riskstream.model.artefact import metadata_path
from riskstream.offline.replay import ReplayReport, decide_records
from riskstream.rules import RuleFileError, load_ruleset
from riskstream.testing import FakeClock, engine_for, make_order, ruleset_from_yaml

MODEL_RULE = """
ruleset: {version: m, thresholds: {review: 40, hold: 80}}
rules:
  - id: model-anomaly
    match: {model_score: {ge: 0.9}}
    score: 40
"""


def decide(lines, model_path, batch, rules="rules"):
    # Without the graph: with one, replay concludes each order before counting the next.
    engine = DecisionEngine(load_ruleset(rules).without_graph(), clock=FakeClock())
    scoring = Scoring(engine, FixedModel(load_model(model_path)), batch=batch) if model_path else None
    records = ((f"l:{n}", line) for n, line in enumerate(lines))
    return [d.to_dict() for _, d in decide_records(engine, records, ReplayReport(), scoring=scoring)]


def test_batches_of_any_size_decide_like_one_order_at_a_time(trained, sim_lines):
    path, meta = trained
    lines = sim_lines[:1500] + [sim_lines[3], b"{bad"]  # a duplicate and a bad line inside a batch
    one = decide(lines, path, batch=1)
    assert len(one) == 1500 and [d["order_id"] for d in one] == [orjson.loads(x)["order_id"] for x in sim_lines[:1500]]
    assert decide(lines, path, batch=7) == one
    assert decide(lines, path, batch=1000) == one
    assert {d["model_version"] for d in one} == {meta["model_version"]}
    assert all(0 <= d["model_score"] <= 1 for d in one)
    rules_alone = decide(lines, None, batch=1)
    assert {d["model_version"] for d in rules_alone} == {None}
    # The shipped model rule is the only difference the model makes.
    for alone, scored in zip(rules_alone, one):
        model_reasons = [r for r in scored["reasons"] if r["rule"] == "model-anomaly"]
        assert bool(model_reasons) == (scored["model_score"] >= 0.95)
        assert [r for r in scored["reasons"] if r["rule"] != "model-anomaly"] == alone["reasons"]
        if not model_reasons:
            assert scored["action"] == alone["action"]


def test_the_score_reaches_decisions_through_a_rule(trained, sim_lines, tmp_path):
    path, _ = trained
    rules = tmp_path / "rules.yaml"
    rules.write_text(MODEL_RULE)
    decisions = decide(sim_lines[:1000], path, batch=100, rules=str(rules))
    hit = [d for d in decisions if d["reasons"]]
    assert hit and all(d["model_score"] >= 0.9 and d["action"] == "review" for d in hit)
    assert hit[0]["reasons"] == [{"rule": "model-anomaly", "kind": "match", "value": {"model_score": hit[0]["model_score"]}, "score": 40.0}]
    assert all(d["action"] == "allow" for d in decisions if d["model_score"] < 0.9)


def test_without_a_model_a_model_condition_is_false_and_the_cli_says_so(sim_lines, tmp_path):
    engine = engine_for(MODEL_RULE)
    assert engine.uses_model
    decision = engine.decide(parse_order(make_order()))
    assert decision.action.label == "allow" and decision.reasons == [] and decision.model_version is None
    rules = tmp_path / "rules.yaml"
    rules.write_text(MODEL_RULE)
    orders = tmp_path / "o.jsonl"
    orders.write_bytes(b"\n".join(sim_lines[:50]) + b"\n")
    result = CliRunner().invoke(main, ["replay", str(orders), "--rules", str(rules)])
    assert result.exit_code == 0
    assert "rules read model_score but no model is loaded" in result.output
    assert "review 0" in result.output


def test_model_score_is_refused_in_a_velocity_filter():
    with pytest.raises(RuleFileError, match="model_score is known only after the order is counted"):
        ruleset_from_yaml("""
rules:
  - id: r
    velocity: {key: [ip], window: 1h, where: {model_score: {ge: 0.5}}}
    above: 3
    score: 10
""")


def test_a_new_version_is_picked_up_and_a_tampered_one_is_refused(trained, tmp_path, sim_lines):
    path, _ = trained
    live = tmp_path / "live.skops"
    shutil.copy(path, live)
    shutil.copy(metadata_path(path), metadata_path(live))
    now = [0.0]
    source = ReloadingModel(live, check_every=5, clock=lambda: now[0])
    first = source.current().version
    meta = json.loads(metadata_path(live).read_text())
    meta["model_version"] = "retrained+00000001"
    metadata_path(live).write_text(json.dumps(meta))
    assert source.current().version == first  # not checked again before check_every
    now[0] = 6.0
    assert source.current().version == "retrained+00000001"
    data = bytearray(live.read_bytes())
    data[100] ^= 1
    live.write_bytes(bytes(data))
    meta["model_version"] = "tampered"
    metadata_path(live).write_text(json.dumps(meta))
    now[0] = 12.0
    assert source.current().version == "retrained+00000001"  # refused: the running model stays


def test_backtest_shows_what_a_model_rule_changes(trained, sim_lines, tmp_path):
    path, _ = trained
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("ruleset: {version: b, thresholds: {review: 40, hold: 80}}\n"
                        "rules:\n  - {id: big, match: {quantity: {ge: 5}}, score: 40}\n")
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(baseline.read_text() + MODEL_RULE.split("rules:\n", 1)[1])
    orders = tmp_path / "o.jsonl"
    orders.write_bytes(b"\n".join(sim_lines[:1000]) + b"\n")
    report = tmp_path / "cmp.json"
    result = CliRunner().invoke(main, ["backtest", str(orders), "--rules", str(proposed), "--baseline", str(baseline),
                                       "--model", str(path), "--label-field", "label", "--report", str(report)])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    scored = decide(sim_lines[:1000], path, batch=1000, rules=str(proposed))
    hits = sum(any(r["rule"] == "model-anomaly" for r in d["reasons"]) for d in scored)
    assert hits and data["rules"]["model-anomaly"] == {"baseline": 0, "new": hits, "delta": hits}
    assert data["changed"] == hits  # 40 more points always move an order up a step here
