"""A small model trained once per test session on simulated traffic."""

import orjson
import pytest

from riskstream.assembly import load_engine
from riskstream.model.train import read_history, train
from riskstream.sim import simulate


def records(events):
    return ((f"sim:{n}", orjson.dumps(e)) for n, e in enumerate(events))


@pytest.fixture(scope="session")
def sim_lines():
    return [orjson.dumps(e) for e in simulate(3000, seed=5)]


@pytest.fixture(scope="session")
def trained(tmp_path_factory, sim_lines):
    """(artefact path, metadata) of a 20-tree model on 3,000 simulated orders."""
    path = tmp_path_factory.mktemp("models") / "small.skops"
    history = read_history(load_engine("rules"), ((f"l:{n}", line) for n, line in enumerate(sim_lines)), "label")
    meta = train(history, str(path), trees=20, max_samples=256, seed=1, label_field="label")
    return path, meta
