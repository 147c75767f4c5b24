"""The shipped rule files on simulated traffic: the detection the playbook asks for.

A smaller day than the benchmark (20k orders, seed 3) keeps this quick; the
200k-order figures are produced by `make demo`.
"""

import pytest

from riskstream.cli import load_engine
from riskstream.replay import replay
from riskstream.simulate import simulate


@pytest.fixture(scope="module")
def report():
    engine = load_engine("rules")
    records = ((f"sim:{n}", event) for n, event in enumerate(simulate(20_000, seed=3)))
    return replay(engine, records, label_field="label", group_field="scenario").to_dict()


def test_scalper_orders_are_blocked_and_benign_orders_are_not(report):
    labels = report["labels"]
    assert report["invalid"] == 0
    assert labels["blocked"]["recall"] >= 0.95
    assert labels["blocked"]["precision"] >= 0.95
    assert labels["benign_flagged_share"] <= 0.01


@pytest.mark.parametrize("scenario", ["nat", "family", "office", "shopper"])
def test_benign_sharing_is_not_held(report, scenario):
    assert report["groups"][scenario]["blocked_share"] <= 0.01


def test_rings_are_stopped(report):
    assert report["groups"]["ring"]["blocked_share"] >= 0.97
