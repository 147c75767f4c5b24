"""An IsolationForest's scoring as flat arrays: every tree walked at once with numpy.

scikit-learn scores a forest tree by tree, with a fixed cost per tree and per
call (about 40 ms for one row through 200 trees on a busy core).  Here the
trees are laid end to end in a few arrays and a batch of rows descends all of
them together, one level per step, so a call costs a handful of array
operations per level.  The numbers are scikit-learn's: the same leaves, the
same path lengths, the same normalisation (checked in the tests against
``IsolationForest.score_samples``).
"""

from __future__ import annotations

import numpy as np


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a binary tree of n points."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


class CompiledForest:
    """``score_samples`` of a fitted :class:`~sklearn.ensemble.IsolationForest`."""

    def __init__(self, estimator):
        n_features = estimator.n_features_in_
        subsample = estimator._max_features != n_features
        lefts, rights, features, thresholds, values, roots = [], [], [], [], [], []
        offset = 0
        depth = 0
        for tree, columns in zip(estimator.estimators_, estimator.estimators_features_):
            t = tree.tree_
            count = t.node_count
            nodes = np.arange(count)
            leaf = t.children_left == -1
            lefts.append(np.where(leaf, nodes, t.children_left) + offset)  # a leaf points to itself
            rights.append(np.where(leaf, nodes, t.children_right) + offset)
            feature = np.where(leaf, 0, t.feature)
            if subsample:
                feature = np.asarray(columns)[feature]
            features.append(feature)
            thresholds.append(np.where(leaf, np.inf, t.threshold))
            node_depths = t.compute_node_depths()  # the root is at depth 1
            values.append(np.where(leaf, node_depths + _average_path_length(t.n_node_samples) - 1.0, 0.0))
            roots.append(offset)
            depth = max(depth, int(node_depths.max()))
            offset += count
        # children[2 * node] is the left child, children[2 * node + 1] the right one
        self.children = np.stack([np.concatenate(lefts), np.concatenate(rights)], axis=1).ravel().astype(np.intp)
        self.feature = np.concatenate(features).astype(np.intp)
        self.threshold = np.concatenate(thresholds)
        self.value = np.concatenate(values)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.steps = depth - 1  # edges from the root to the deepest leaf
        self.denominator = len(estimator.estimators_) * float(_average_path_length(np.array([estimator._max_samples]))[0])

    CHUNK = 2048  # rows walked together; bounds the (rows x trees) work arrays

    def score_samples(self, rows: np.ndarray) -> np.ndarray:
        """Like ``IsolationForest.score_samples``: lower is more anomalous."""
        x = np.asarray(rows, dtype=np.float32)  # trees compare float32 inputs, as scikit-learn does
        if len(x) <= self.CHUNK:
            return self._score(x)
        return np.concatenate([self._score(x[i:i + self.CHUNK]) for i in range(0, len(x), self.CHUNK)])

    def _score(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        flat = x.ravel()
        base = (np.arange(n, dtype=np.intp) * x.shape[1])[:, None]
        feature, threshold, children = self.feature, self.threshold, self.children
        for _ in range(self.steps):
            go_right = flat.take(base + feature.take(node)) > threshold.take(node)
            node = children.take(node * 2 + go_right)
        depths = self.value[node].sum(axis=1)
        if self.denominator == 0:
            return -np.ones(n)
        return -(2.0 ** (-depths / self.denominator))
