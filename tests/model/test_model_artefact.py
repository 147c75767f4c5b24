"""Artefacts: round trip, and refusal of anything changed or untrusted."""

import json
import shutil

import numpy as np
import pytest
import skops.io as sio
from click.testing import CliRunner

from riskstream.cli import main
from riskstream.model.artefact import (
    FORMAT,
    ModelError,
    load_model,
    metadata_path,
    sha256,
)
from riskstream.model.features import FEATURES


@pytest.fixture
def copy(tmp_path, trained):
    """A private copy of the trained artefact and its metadata."""
    path, _ = trained
    target = tmp_path / "copy.skops"
    shutil.copy(path, target)
    shutil.copy(metadata_path(path), metadata_path(target))
    return target


def test_round_trip_keeps_the_model_and_its_metadata(trained):
    path, meta = trained
    model = load_model(path)
    assert model.version == meta["model_version"] == f"small+{meta['sha256'][:8]}"
    assert meta["features"] == list(FEATURES) and meta["sha256"] == sha256(path.read_bytes())
    assert meta["training"]["rows"] == 3000 and meta["training"]["window"]["first"].startswith("2026-11-11T00:")
    assert set(meta["libraries"]) == {"python", "numpy", "scikit-learn", "skops"}
    assert 0 < meta["metrics"]["training_pr_auc"] <= 1
    scores = model.score(np.zeros((3, len(FEATURES))))
    assert scores.shape == (3,) and ((0 <= scores) & (scores <= 1)).all()


def test_changed_bytes_are_refused(copy):
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 .* does not match its metadata"):
        load_model(copy)


def test_a_metadata_sha_that_does_not_match_is_refused(copy):
    meta_file = metadata_path(copy)
    meta = json.loads(meta_file.read_text())
    meta["sha256"] = "0" * 64
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="does not match its metadata"):
        load_model(copy)
    meta_file.unlink()
    with pytest.raises(ModelError, match="metadata not found"):
        load_model(copy)


def _forge(path, content):
    """An artefact whose metadata matches its bytes (as an attacker with write access would make)."""
    data = sio.dumps(content)
    path.write_bytes(data)
    meta_file = metadata_path(path)
    meta = json.loads(meta_file.read_text())
    meta["sha256"] = sha256(data)
    meta_file.write_text(json.dumps(meta))


def test_types_outside_the_trust_list_are_refused_even_when_skops_trusts_them(copy):
    from sklearn.linear_model import LogisticRegression

    estimator = LogisticRegression().fit(np.random.default_rng(0).random((20, len(FEATURES))), [0, 1] * 10)
    _forge(copy, {"format": FORMAT, "features": list(FEATURES), "estimator": estimator, "reference": np.zeros(3)})
    with pytest.raises(ModelError, match="untrusted types.*LogisticRegression"):
        load_model(copy)


def test_function_calls_in_an_artefact_are_refused(copy):
    _forge(copy, {"format": FORMAT, "features": list(FEATURES), "estimator": np.sum, "reference": np.zeros(3)})
    with pytest.raises(ModelError, match="untrusted types"):
        load_model(copy)


def test_a_file_that_is_not_an_artefact_is_refused(copy):
    import pickle

    _forge(copy, {"x": 1})
    copy.write_bytes(pickle.dumps({"x": 1}))
    meta = json.loads(metadata_path(copy).read_text())
    meta["sha256"] = sha256(copy.read_bytes())
    metadata_path(copy).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="not a skops artefact"):
        load_model(copy)


def test_replay_with_a_tampered_model_exits_non_zero_with_the_reason(tmp_path, copy, sim_lines):
    orders = tmp_path / "o.jsonl"
    orders.write_bytes(b"\n".join(sim_lines[:10]) + b"\n")
    data = bytearray(copy.read_bytes())
    data[-10] ^= 0xFF
    copy.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["replay", str(orders), "--rules", "rules", "--model", str(copy)])
    assert result.exit_code == 2
    assert "model refused" in result.output and "sha256" in result.output


def test_a_model_for_other_features_is_refused(copy):
    meta_file = metadata_path(copy)
    meta = json.loads(meta_file.read_text())
    meta["features"] = meta["features"][:-1] + ["ip_orders_1h"]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="differ in cluster_new_share, ip_orders_1h; retrain the model"):
        load_model(copy)
