"""The compiled forest scores exactly as scikit-learn, from one row to many."""

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from riskstream.model.forest import CompiledForest


@pytest.mark.parametrize("max_features", [1.0, 0.5])
def test_scores_equal_scikit_learn(max_features):
    rng = np.random.default_rng(7)
    train = np.r_[rng.normal(size=(2000, 6)), rng.normal(4, 1, size=(40, 6))]
    estimator = IsolationForest(n_estimators=30, max_samples=128, max_features=max_features, random_state=3).fit(train)
    forest = CompiledForest(estimator)
    rows = np.r_[rng.normal(size=(5000, 6)), rng.normal(5, 2, size=(50, 6))]
    expected = estimator.score_samples(rows)
    assert np.allclose(forest.score_samples(rows), expected, rtol=0, atol=1e-12)
    assert np.allclose(forest.score_samples(rows[:1]), expected[:1], rtol=0, atol=1e-12)
    assert forest.score_samples(rows[-50:]).mean() < forest.score_samples(rows[:50]).mean()  # outliers score lower
