"""The supervised model: learns from labels what the anomaly model can only guess.

Trained on labelled history (the simulator's days, or the orders reviewers
labelled, as ``riskstream cases export-labels`` writes them) with the same
features, read through the same replay, as the anomaly model
(:func:`~riskstream.model.train.read_history`).  The estimator is a
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` inside
:class:`~sklearn.calibration.CalibratedClassifierCV`: the boosted trees are
fitted on all training rows and the calibrator (isotonic by default) on
their cross-validated scores, so the score is a probability - an order scored
0.9 is abusive about nine times in ten on traffic like the training traffic.
Scoring walks the compiled trees (:mod:`.boosting`), in the same micro-batches
as the anomaly model.

With ``split``, only the earliest share of the history (by event time) is
trained on; the metadata records the cut, and ``riskstream model evaluate``
on the same input measures the model on the later part only.
"""

from __future__ import annotations

import platform
import sys
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ..offline.labels import average_precision
from .artefact import SUPERVISED, save_model
from .train import TARGET_PRECISION, History, at_thresholds

ITERATIONS, LEAVES, DEPTH, LEARNING_RATE = 100, 31, 6, 0.1
# Depth 6, not unbounded: scoring walks one level per step for all trees, and unbounded trees reached depth
# 21; on the simulated day (seed 1, split 0.7) the later part's PR-AUC of the trees alone was 0.9979 at
# depth 6 against 0.9969 unbounded.
CALIBRATIONS = ("isotonic", "sigmoid")
FOLDS = 3
MIN_PER_CLASS = 10  #: labelled orders of each class needed to fit and calibrate
#: A calibrated probability p means an order at or above p is abusive with probability >= p, so the
#: cut of an outcome is its target precision.
THRESHOLDS = dict(TARGET_PRECISION)


def fit(rows: np.ndarray, labels: np.ndarray, *, iterations: int = ITERATIONS, leaves: int = LEAVES,
        depth: int = DEPTH, learning_rate: float = LEARNING_RATE, calibration: str = "isotonic", seed: int = 0):
    """A calibrated gradient-boosting classifier on labelled ``rows`` (labels 0/1)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got {calibration!r}")
    positives = int(labels.sum())
    negatives = int(len(labels) - positives)
    if positives < MIN_PER_CLASS or negatives < MIN_PER_CLASS:
        raise ValueError(f"a supervised model needs at least {MIN_PER_CLASS} abusive and {MIN_PER_CLASS} benign "
                         f"labelled orders to train on; found {positives} abusive and {negatives} benign")
    booster = HistGradientBoostingClassifier(max_iter=iterations, max_leaf_nodes=leaves, max_depth=depth,
                                             learning_rate=learning_rate,
                                             l2_regularization=1.0, early_stopping=False, random_state=seed)
    # The trees are fitted on all rows; the calibrator on out-of-fold scores.  Shuffled folds: folds in time
    # order calibrate the sale's orders with trees that never saw a sale, and the scores come out timid.
    # ensemble=False: one set of trees to walk when scoring, not one per fold.
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    calibrated = CalibratedClassifierCV(booster, method=calibration, cv=folds, ensemble=False)
    calibrated.fit(rows, labels.astype(int))
    calibrated.cv = FOLDS  # the splitter is only needed to fit; the artefact keeps plain data
    return calibrated


def train_supervised(history: History, output: str, *, label_field: str, split: float | None = None,
                     iterations: int = ITERATIONS, leaves: int = LEAVES, learning_rate: float = LEARNING_RATE,
                     calibration: str = "isotonic", seed: int = 0, command: str | None = None) -> dict[str, Any]:
    """Fit on the labelled orders (before the split, if given), write the artefact and metadata; returns the metadata."""
    import sklearn
    import skops

    from .artefact import Model

    if history.labels is None or not (history.labels >= 0).any():
        raise ValueError(f"no labels in field {label_field!r}: a supervised model learns from labels")
    cut = None
    part = history
    if split is not None:
        cut = history.cut(split)
        part = history.select(history.times < cut)
    known = part.labels >= 0
    rows, labels = part.rows[known], part.labels[known]
    started = time.perf_counter()
    estimator = fit(rows, labels, iterations=iterations, leaves=leaves, learning_rate=learning_rate,
                    calibration=calibration, seed=seed)
    seconds = time.perf_counter() - started
    scores = Model(estimator, None, "training", {}, kind=SUPERVISED).score(rows)
    metrics: dict[str, Any] = {
        "fit_seconds": round(seconds, 2),
        "training_pr_auc": round(average_precision(labels, scores), 4),  # in-sample: optimistic
        "positives": int(labels.sum()),
        "labelled": int(len(labels)),
        "base_rate": round(float(labels.mean()), 4),
        "at_thresholds": at_thresholds(labels, scores, THRESHOLDS),
    }
    metadata = {
        "estimator": "sklearn.calibration.CalibratedClassifierCV(sklearn.ensemble.HistGradientBoostingClassifier)",
        "params": {"max_iter": iterations, "max_leaf_nodes": leaves, "max_depth": DEPTH, "learning_rate": learning_rate,
                   "l2_regularization": 1.0, "calibration": calibration, "folds": FOLDS, "shuffled_folds": True, "ensemble": False,
                   "random_state": seed},
        "score": "calibrated probability that the order is abusive (0-1)",
        "training": {
            "inputs": history.inputs,
            "window": {"first": part.first, "last": part.last},
            "split": split,
            "cut": datetime.fromtimestamp(cut, timezone.utc).isoformat() if cut is not None else None,
            "rows": int(len(rows)),
            "unlabelled_skipped": int((~known).sum()),
            "invalid": history.report.invalid,
            "duplicates": history.report.duplicates,
            "label_field": label_field,
        },
        "thresholds": dict(THRESHOLDS),
        "metrics": metrics,
        "libraries": {"python": platform.python_version(), "numpy": np.__version__,
                      "scikit-learn": sklearn.__version__, "skops": skops.__version__},
        "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command or " ".join(sys.argv),
    }
    return save_model(output, estimator, None, metadata, kind=SUPERVISED)
