"""The shipped model with the shipped rules: the playbook's bounds still hold."""

import pytest

from riskstream.assembly import load_engine
from riskstream.model import FEATURES, FixedModel, Scoring, load_model
from riskstream.offline.replay import replay
from riskstream.sim import simulate


@pytest.fixture(scope="module")
def report():
    model = load_model("models/anomaly.skops")
    engine = load_engine("rules")
    records = ((f"sim:{n}", event) for n, event in enumerate(simulate(20_000, seed=3)))
    return replay(engine, records, label_field="label", group_field="scenario",
                  scoring=Scoring(engine, FixedModel(model))).to_dict()


def test_the_shipped_model_loads_and_describes_itself():
    model = load_model("models/anomaly.skops")
    meta = model.metadata
    assert meta["features"] == list(FEATURES) and meta["training"]["rows"] >= 50_000
    assert "model train" in meta["command"] and meta["thresholds"]["review"] <= meta["thresholds"]["hold"]


def test_rules_with_the_model_keep_the_bounds(report):
    labels = report["labels"]
    assert report["model_version"].startswith("anomaly+")
    assert labels["blocked"]["precision"] >= 0.95 and labels["blocked"]["recall"] >= 0.95
    assert labels["benign_flagged_share"] <= 0.01
    for scenario in ("nat", "family", "office", "shopper"):
        assert report["groups"][scenario]["blocked_share"] <= 0.01
