"""A calibrated gradient-boosting classifier's scoring as flat arrays, walked with numpy.

The supervised model is a :class:`~sklearn.calibration.CalibratedClassifierCV`
over :class:`~sklearn.ensemble.HistGradientBoostingClassifier`: one boosted
classifier and one calibrator per cross-validation fold, their probabilities
averaged.  scikit-learn predicts tree by tree with OpenMP threads; on a shared
machine the threads cost more than they save (half a second for a thousand
rows through three folds of a hundred trees on two busy cores, 28 ms with one
thread).  Here every tree of every fold is laid end to end and a batch
descends all of them together, one level per step, as
:class:`~riskstream.model.forest.CompiledForest` does for the IsolationForest.

The numbers are scikit-learn's: the same splits (a value at or below the
threshold goes left, a missing value where training sent it), the same leaf
values and baseline, the same isotonic or sigmoid calibration, the same
average over folds (checked in the tests against ``predict_proba``).
"""

from __future__ import annotations

import numpy as np


class CompiledBoosting:
    """``predict_proba(rows)[:, 1]`` of a fitted binary ``CalibratedClassifierCV`` over histogram gradient boosting."""

    CHUNK = 2048  # rows walked together; bounds the (rows x trees) work arrays

    def __init__(self, calibrated):
        lefts, rights, features, thresholds, nan_left, values, roots, folds = [], [], [], [], [], [], [], []
        self.baselines: list[float] = []
        self.calibrators: list[tuple[str, np.ndarray, np.ndarray]] = []
        offset, depth = 0, 0
        for fold, member in enumerate(calibrated.calibrated_classifiers_):
            booster = member.estimator
            if getattr(booster, "n_trees_per_iteration_", 1) != 1 or len(member.calibrators) != 1:
                raise ValueError("only a binary classifier can be compiled")
            if getattr(booster, "is_categorical_", None) is not None and np.any(booster.is_categorical_):
                raise ValueError("categorical splits are not supported")
            self.baselines.append(float(np.ravel(booster._baseline_prediction)[0]))
            for (predictor,) in booster._predictors:
                nodes = predictor.nodes
                count = len(nodes)
                index = np.arange(count)
                leaf = nodes["is_leaf"].astype(bool)
                lefts.append(np.where(leaf, index, nodes["left"]) + offset)  # a leaf points to itself
                rights.append(np.where(leaf, index, nodes["right"]) + offset)
                features.append(np.where(leaf, 0, nodes["feature_idx"]))
                thresholds.append(np.where(leaf, np.inf, nodes["num_threshold"]))
                nan_left.append(nodes["missing_go_to_left"].astype(bool) & ~leaf)
                values.append(np.where(leaf, nodes["value"], 0.0))
                roots.append(offset)
                folds.append(fold)
                depth = max(depth, int(nodes["depth"].max()))
                offset += count
            calibrator = member.calibrators[0]
            if hasattr(calibrator, "X_thresholds_"):
                self.calibrators.append(("isotonic", np.asarray(calibrator.X_thresholds_, dtype=float),
                                         np.asarray(calibrator.y_thresholds_, dtype=float)))
            elif hasattr(calibrator, "a_"):
                self.calibrators.append(("sigmoid", np.array([float(calibrator.a_)]), np.array([float(calibrator.b_)])))
            else:
                raise ValueError(f"unknown calibrator {type(calibrator).__name__}")
        if not roots:
            raise ValueError("the classifier has no trees")
        # children[2 * node] is the left child, children[2 * node + 1] the right one
        self.children = np.stack([np.concatenate(lefts), np.concatenate(rights)], axis=1).ravel().astype(np.intp)
        self.feature = np.concatenate(features).astype(np.intp)
        self.threshold = np.concatenate(thresholds).astype(float)
        self.nan_left = np.concatenate(nan_left)
        self.value = np.concatenate(values).astype(float)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.fold_starts = np.flatnonzero(np.r_[True, np.diff(folds) != 0])  # first tree of each fold
        self.folds = len(self.baselines)
        self.steps = depth  # edges from the root to the deepest leaf (the root is at depth 0)

    def raw(self, rows: np.ndarray) -> np.ndarray:
        """The boosted sum (log-odds before calibration) per row and fold: shape (rows, folds)."""
        x = np.asarray(rows, dtype=float)  # scikit-learn compares float64 inputs to float64 thresholds
        if len(x) <= self.CHUNK:
            return self._raw(x)
        return np.concatenate([self._raw(x[i:i + self.CHUNK]) for i in range(0, len(x), self.CHUNK)])

    def _raw(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        flat = x.ravel()
        base = (np.arange(n, dtype=np.intp) * x.shape[1])[:, None]
        feature, threshold, children = self.feature, self.threshold, self.children
        missing = bool(np.isnan(flat).any())
        for _ in range(self.steps):
            seen = flat.take(base + feature.take(node))
            go_right = seen > threshold.take(node)  # False for a missing value: it goes left unless ...
            if missing:
                go_right |= np.isnan(seen) & ~self.nan_left.take(node)  # ... training sent missing values right
            node = children.take(node * 2 + go_right)
        leaves = self.value.take(node)  # (rows, trees)
        return np.add.reduceat(leaves, self.fold_starts, axis=1) + np.asarray(self.baselines)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class, averaged over folds."""
        raw = self.raw(rows)
        out = np.zeros(len(raw))
        for fold, (kind, a, b) in enumerate(self.calibrators):
            t = raw[:, fold]
            if kind == "isotonic":
                out += np.interp(np.clip(t, a[0], a[-1]), a, b)
            else:
                out += 1.0 / (1.0 + np.exp(a[0] * t + b[0]))
        out /= self.folds
        return np.minimum(out, 1.0)
