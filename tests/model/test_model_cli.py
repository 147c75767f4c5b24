"""``riskstream model train`` and ``riskstream model evaluate`` end to end on small simulated days."""

import json
from pathlib import Path

from click.testing import CliRunner

from riskstream.cli import main
from riskstream.sim import write_jsonl


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_train_then_evaluate_on_another_seed(tmp_path):
    train_file, heldout = tmp_path / "train.jsonl", tmp_path / "heldout.jsonl"
    write_jsonl(train_file, 4000, seed=11)
    write_jsonl(heldout, 3000, seed=12)
    artefact = tmp_path / "models" / "sim.skops"
    trained = run("model", "train", train_file, "-o", artefact, "--label-field", "label", "--rules", "rules",
                  "--trees", 20)
    assert trained.exit_code == 0, trained.output
    meta = json.loads(artefact.with_suffix(".json").read_text())
    assert meta["training"]["rows"] == 4000 and meta["params"]["n_estimators"] == 20
    assert set(meta["thresholds"]) == {"review", "hold"} and meta["thresholds"]["review"] <= meta["thresholds"]["hold"]
    assert meta["metrics"]["at_thresholds"]["hold"]["precision"] >= 0.9

    report_file = tmp_path / "eval" / "report.json"
    evaluated = run("model", "evaluate", heldout, "--model", artefact, "--label-field", "label", "--rules", "rules",
                    "--report", report_file)
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(report_file.read_text())
    assert report["model_version"] == meta["model_version"] and report["orders"] == 3000
    assert report["pr_auc"] > 3 * report["base_rate"]  # far better than chance on another day
    assert set(report["thresholds"]) == {"review", "hold"}
    for picture in report["pictures"].values():
        assert Path(picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    unlabelled = run("model", "evaluate", heldout, "--model", artefact, "--label-field", "nope", "--rules", "rules")
    assert unlabelled.exit_code != 0 and "no labels in field 'nope'" in unlabelled.output
