"""The supervised model: compiled scoring equal to scikit-learn's, a time split that cannot be fooled,
PR-AUC well above the base rate on the later part, safe artefacts, the replay's batched scoring path,
and an anomaly model that says when it carries no signal."""

import json
import zipfile

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

from riskstream.cli import main
from riskstream.model import load_model
from riskstream.model.artefact import ModelError, metadata_path, sha256
from riskstream.model.boosting import CompiledBoosting
from riskstream.model.evaluate import signal
from riskstream.sim import write_jsonl

RULES = "rules"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    path = tmp_path_factory.mktemp("supervised") / "day.jsonl"
    write_jsonl(path, 8000, seed=21)
    return path


@pytest.fixture(scope="module")
def split_model(day, tmp_path_factory):
    """A supervised model trained on the earlier 70% of the day."""
    artefact = tmp_path_factory.mktemp("models") / "supervised.skops"
    result = run("model", "train", day, "--supervised", "--label-field", "label", "--split", 0.7, "--rules", RULES,
                 "--iterations", 40, "-o", artefact)
    assert result.exit_code == 0, result.output
    return artefact


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_compiled_trees_score_as_scikit_learn_does(method):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 6))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=3000) > 1).astype(int)
    x[rng.random(x.shape) < 0.05] = np.nan  # missing values follow the side training sent them
    for ensemble in (True, False):
        model = CalibratedClassifierCV(HistGradientBoostingClassifier(max_iter=30, random_state=0), method=method,
                                       cv=3, ensemble=ensemble).fit(x[:2000], y[:2000])
        compiled = CompiledBoosting(model)
        assert np.allclose(compiled.predict(x), model.predict_proba(x)[:, 1], rtol=0, atol=1e-9)
        assert np.allclose(compiled.predict(x[:1]), model.predict_proba(x[:1])[:, 1], rtol=0, atol=1e-9)


def test_training_on_the_earlier_part_records_the_cut(split_model):
    meta = json.loads(metadata_path(split_model).read_text())
    assert meta["kind"] == "supervised" and meta["training"]["split"] == 0.7
    assert meta["training"]["rows"] == 5599 and meta["training"]["window"]["last"] < meta["training"]["cut"]
    assert meta["thresholds"] == {"review": 0.8, "hold": 0.95}
    loaded = load_model(split_model)
    assert loaded.kind == "supervised" and loaded.version == meta["model_version"]


def test_evaluate_measures_only_the_later_part_and_finds_a_clear_signal(split_model, day, tmp_path):
    report_file = tmp_path / "eval" / "supervised.json"
    result = run("model", "evaluate", day, "--model", split_model, "--label-field", "label", "--rules", RULES,
                 "--report", report_file)
    assert result.exit_code == 0, result.output
    report = json.loads(report_file.read_text())
    assert report["orders"] == 8000 - 5599 and "training cut" in report["measured"]
    assert report["kind"] == "supervised" and report["signal"] == "clear"
    assert report["pr_auc"] >= 3 * report["base_rate"], report
    assert report["thresholds"]["hold"]["precision"] >= 0.9
    # --split measures the same later part
    again = run("model", "evaluate", day, "--model", split_model, "--label-field", "label", "--rules", RULES,
                "--split", 0.7)
    assert again.exit_code == 0 and json.loads(again.stdout)["orders"] == report["orders"]


def test_a_model_trained_on_all_of_a_history_is_not_evaluated_on_it(day, tmp_path):
    artefact = tmp_path / "all.skops"
    assert run("model", "train", day, "--supervised", "--label-field", "label", "--rules", RULES, "--iterations", 10,
               "-o", artefact).exit_code == 0
    refused = run("model", "evaluate", day, "--model", artefact, "--label-field", "label", "--rules", RULES)
    assert refused.exit_code != 0 and "trained on all of" in refused.output
    # tune says so too: its later part is not held back from such a model
    tuned = run("tune", day, "--label-field", "label", "--rules", RULES, "--model", artefact, "-o", tmp_path / "t")
    assert tuned.exit_code == 0, tuned.output
    assert "warning: the model was trained on orders up to" in tuned.stderr
    assert "model_warning" in json.loads((tmp_path / "t" / "tune.json").read_text())


def test_supervised_needs_labels_of_both_kinds(day, tmp_path):
    no_field = run("model", "train", day, "--supervised", "-o", tmp_path / "x.skops")
    assert no_field.exit_code != 0 and "--label-field" in no_field.output
    benign = tmp_path / "benign.jsonl"
    with open(day, "rb") as src, open(benign, "wb") as out:
        for line in src:
            event = orjson.loads(line)
            if event["label"] == 0:
                out.write(orjson.dumps(event) + b"\n")
    one_class = run("model", "train", benign, "--supervised", "--label-field", "label", "--rules", RULES,
                    "-o", tmp_path / "x.skops")
    assert one_class.exit_code != 0 and "found 0 abusive" in one_class.output


def test_a_changed_supervised_artefact_is_refused(split_model, tmp_path):
    copy = tmp_path / "copy.skops"
    copy.write_bytes(split_model.read_bytes())
    meta = json.loads(metadata_path(split_model).read_text())
    meta["kind"] = "anomaly"  # the metadata lies about what the artefact holds
    metadata_path(copy).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="holds a supervised model, its metadata says anomaly"):
        load_model(copy)

    # an artefact with a class outside the trust list is refused before anything is built
    with zipfile.ZipFile(split_model) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    files["schema.json"] = files["schema.json"].replace(b"sklearn.isotonic", b"os.system.isotonic", 1)
    forged = tmp_path / "forged.skops"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    meta = json.loads(metadata_path(split_model).read_text())
    meta["sha256"] = sha256(forged.read_bytes())
    metadata_path(forged).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="untrusted types"):
        load_model(forged)


def test_replay_scores_with_the_supervised_model_in_batches(split_model, day, tmp_path):
    out = tmp_path / "decisions.jsonl"
    result = run("replay", day, "--rules", RULES, "--model", split_model, "-o", out)
    assert result.exit_code == 0, result.output
    decisions = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    version = load_model(split_model).version
    first = {}
    for d in decisions:
        first.setdefault(d["order_id"], d)
    assert len(first) == 8000 and all(d["model_version"] == version for d in first.values())
    labels = {}
    with open(day, "rb") as lines:
        for line in lines:
            event = orjson.loads(line)
            labels[event["order_id"]] = event["label"]
    scores = np.array([first[o]["model_score"] for o in labels])
    y = np.array(list(labels.values()))
    assert scores[y == 1].mean() > 0.8 > 0.2 > scores[y == 0].mean()


def test_signal_says_plainly_when_there_is_none():
    strength, verdict = signal(0.049, 0.046)  # an unsupervised model on data it cannot read
    assert strength == "none" and verdict.startswith("no signal") and "1.5x" in verdict
    assert signal(0.10, 0.046)[0] == "weak"
    assert signal(0.50, 0.046)[0] == "clear"


def test_the_anomaly_model_evaluation_says_no_signal_on_labels_it_cannot_see(tmp_path, day):
    # Labels drawn at random carry nothing a model could find: the report must say so.
    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.jsonl"
    with open(day, "rb") as src, open(noise, "wb") as out:
        for line in src:
            event = orjson.loads(line)
            event["label"] = int(rng.random() < 0.05)
            out.write(orjson.dumps(event) + b"\n")
    result = run("model", "evaluate", noise, "--model", "models/anomaly.skops", "--label-field", "label",
                 "--rules", RULES)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["kind"] == "anomaly" and report["signal"] == "none" and report["lift"] < 1.5
    assert "no signal" in result.stderr


def test_tune_calibrates_a_threshold_on_the_model_score(split_model, day, tmp_path):
    from riskstream.assembly import load_scoring
    from riskstream.engine import DecisionEngine
    from riskstream.offline.evidence import gather
    from riskstream.offline.history import read_records
    from riskstream.rules import load_ruleset

    # The evidence holds every order's model score where the score rule's other conditions hold (here: all).
    evidence = gather(DecisionEngine, load_ruleset(RULES), read_records([str(day)]), "label",
                      lambda engine: load_scoring(engine, str(split_model)))
    scores = evidence.values["model-anomaly"]
    assert not np.isnan(scores).any() and 0.0 <= scores.min() < 0.1 and scores.max() > 0.9

    out = tmp_path / "tuned"
    result = run("tune", day, "--label-field", "label", "--rules", RULES, "--model", split_model, "-o", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "tune.json").read_text())
    assert "model_warning" not in summary  # trained on the same earlier part
    rule = next(r for r in summary["rules"] if r["rule"] == "model-anomaly")
    assert rule["current"]["above"] == 0.95  # the bound on the score is the rule's threshold
    assert rule["changed"] and rule["proposed"]["above"] != 0.95, rule
    text = (out / "model.yaml").read_text()
    assert f"match: {{model_score: {{ge: {rule['proposed']['above']:g}}}}}" in text
    assert "# The anomaly model's score" in text  # comments kept
    assert load_ruleset(out).rule("model-anomaly").match.model_score.ge == rule["proposed"]["above"]
    later = summary["backtest"]["proposed"]["blocked"]
    assert later["precision"] >= 0.9
    replayed = run("replay", day, "--rules", out, "--model", split_model, "-o", tmp_path / "d.jsonl")
    assert replayed.exit_code == 0, replayed.output


def test_trained_from_the_reviewers_exported_labels(replayed, tmp_path):
    """Reviewers label the cases of a replayed sale (rightly, by the simulator's truth); the export trains
    the model over the whole history, and the model ranks another day's orders far above chance."""
    from datetime import datetime, timezone

    from sqlalchemy import select

    from riskstream.console.ingest import CaseIngest
    from riskstream.console.models import Case, Order, VerdictRow
    from riskstream.console.store import CaseStore

    orders_path, decisions = replayed
    truth = {e["order_id"]: e["label"] for e in map(orjson.loads, orders_path.read_bytes().splitlines())}
    store = CaseStore.open(tmp_path / "cases.db")
    CaseIngest(store).ingest(decisions)
    now = datetime.now(timezone.utc)
    with store.session() as session:
        for case in session.scalars(select(Case)).all():
            ids = [o.order_id for o in session.scalars(select(Order).where(Order.case_id == case.id))]
            abusive = 2 * sum(truth[o] for o in ids) > len(ids)
            action = "freeze" if abusive else "false_positive"
            case.label, case.verdict_action, case.verdict_at, case.status = int(abusive), action, now, "closed"
            session.add(VerdictRow(verdict_id=f"v-{case.id}", case_id=case.id, reviewer="alice", action=action,
                                   created_at=now, record={"action": action, "case_id": case.id}))
    store.close()
    labels = tmp_path / "labels.jsonl"
    exported = run("cases", "export-labels", orders_path, "--store", tmp_path / "cases.db", "-o", labels,
                   "--label-field", "reviewed")
    assert exported.exit_code == 0, exported.output
    reviewed = {e["order_id"]: e["reviewed"] for e in map(orjson.loads, labels.read_bytes().splitlines())}
    assert 0 < sum(reviewed.values()) < len(reviewed) < len(truth)  # only the orders of cases are labelled

    artefact = tmp_path / "reviewed.skops"
    trained = run("model", "train", orders_path, "--supervised", "--labels", labels, "--label-field", "reviewed",
                  "--rules", RULES, "--iterations", 40, "-o", artefact)
    assert trained.exit_code == 0, trained.output
    assert f"{len(reviewed):,} of {len(reviewed):,} labelled orders" in trained.stderr
    meta = json.loads(metadata_path(artefact).read_text())
    # every order replayed for its windows, only the reviewed ones trained on
    assert meta["training"]["rows"] == len(reviewed)
    assert meta["training"]["unlabelled_skipped"] == len(truth) - len(reviewed)

    other_day = tmp_path / "other.jsonl"
    write_jsonl(other_day, 4000, seed=33)

    def evaluate(model):
        evaluated = run("model", "evaluate", other_day, "--model", model, "--label-field", "label", "--rules", RULES)
        assert evaluated.exit_code == 0, evaluated.output
        return json.loads(evaluated.stdout)

    only_reviewed = evaluate(artefact)
    # The orders that passed unchallenged, taken as benign: the model sees what ordinary traffic looks like.
    with_passed = tmp_path / "with-passed.skops"
    assert run("model", "train", orders_path, "--supervised", "--labels", labels, "--label-field", "reviewed",
               "--unlabelled", "benign", "--rules", RULES, "--iterations", 40, "-o", with_passed).exit_code == 0
    report = evaluate(with_passed)
    print(f"{len(reviewed)} reviewed orders: PR-AUC {only_reviewed['pr_auc']}; with the passed ones as benign "
          f"{report['pr_auc']}; base rate {report['base_rate']}")
    assert report["pr_auc"] >= 3 * report["base_rate"], report

    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"order_id": "o-1"}\n')
    refused = run("model", "train", orders_path, "--supervised", "--labels", wrong, "-o", tmp_path / "x.skops")
    assert refused.exit_code != 0 and "expected an order with order_id and 'label' 1 or 0" in refused.output


def test_batches_of_any_size_decide_alike_and_a_worker_loads_the_supervised_model(split_model, day):
    from riskstream.engine import DecisionEngine
    from riskstream.model import FixedModel, ReloadingModel, Scoring
    from riskstream.offline.replay import ReplayReport, decide_records
    from riskstream.rules import load_ruleset
    from riskstream.testing import FakeClock

    lines = day.read_bytes().splitlines()[:1500]

    def decide(batch):
        engine = DecisionEngine(load_ruleset(RULES).without_graph(), clock=FakeClock())
        scoring = Scoring(engine, FixedModel(load_model(split_model)), batch=batch)
        records = ((f"l:{n}", line) for n, line in enumerate(lines))
        return [d.to_dict() for _, d in decide_records(engine, records, ReplayReport(), scoring=scoring)]

    one = decide(1)
    assert decide(7) == one and decide(1000) == one
    assert all(0.0 <= d["model_score"] <= 1.0 for d in one)
    source = ReloadingModel(split_model)  # what a worker holds for --model / RISKSTREAM_MODEL
    assert source.current().kind == "supervised" and source.current().version == one[0]["model_version"]
