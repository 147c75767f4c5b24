"""Detection metrics against labelled history: precision, recall and PR-AUC."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..decisions import Outcome

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


def parse_label(value: Any) -> int | None:
    """1 / true / "1" -> 1; 0 / false / "0" -> 0; anything else (or missing) -> None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return 1
        if text in _FALSE:
            return 0
    return None


def precision_recall(tp: int, fp: int, fn: int) -> dict[str, float]:
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
    }


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (ties grouped),
    the same definition as scikit-learn's ``average_precision_score``."""
    positives = int(labels.sum())
    if positives == 0:
        return 0.0
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = np.cumsum(labels)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


@dataclass
class LabelTally:
    """Accumulates (label, action, score) per order; summarises on demand."""

    labels: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    unlabelled: int = 0

    def add(self, label: int | None, action: Outcome, score: float) -> None:
        if label is None:
            self.unlabelled += 1
            return
        self.labels.append(label)
        self.actions.append(int(action))
        self.scores.append(score)

    def revise(self, position: int, action: Outcome, score: float) -> None:
        """A later revision of the order added at ``position`` (the count before its :meth:`add`)."""
        self.actions[position] = int(action)
        self.scores[position] = score

    def summary(self) -> dict[str, Any]:
        labels = np.asarray(self.labels, dtype=np.int8)
        actions = np.asarray(self.actions, dtype=np.int8)
        positive = labels == 1
        out: dict[str, Any] = {"labelled": int(labels.size), "positives": int(positive.sum()), "unlabelled": self.unlabelled}
        for name, hit in (("flagged", actions > int(Outcome.ALLOW)), ("blocked", actions >= int(Outcome.HOLD))):
            tp = int((hit & positive).sum())
            fp = int((hit & ~positive).sum())
            fn = int((~hit & positive).sum())
            out[name] = precision_recall(tp, fp, fn) | {"count": int(hit.sum())}
        negatives = int((~positive).sum())
        flagged_benign = int(((actions > int(Outcome.ALLOW)) & ~positive).sum())
        out["benign_flagged_share"] = round(flagged_benign / negatives, 5) if negatives else 0.0
        out["pr_auc"] = round(average_precision(labels, np.asarray(self.scores, dtype=float)), 4)
        return out
