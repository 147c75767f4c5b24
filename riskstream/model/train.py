"""Training the anomaly model on order history.

History is replayed through the engine exactly as when scoring
(:func:`riskstream.offline.replay.count_records`), so each training row is the row
the model will see for the same order in production.

The model is an :class:`~sklearn.ensemble.IsolationForest`: unsupervised, so
it trains on traffic before anyone has labelled it, and it scores a batch of
a thousand rows in a few milliseconds.  Labels, when given, are only used to
measure it and to calibrate its thresholds (the lowest score with a
precision of at least 0.95 for ``hold``, 0.80 for ``review``).
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import numpy as np

from ..engine import DecisionEngine
from ..offline.labels import average_precision, parse_label
from ..offline.replay import ReplayReport, count_records, fewer_collections
from .artefact import REFERENCE_POINTS, save_model
from .scorer import Scoring

DEFAULT_THRESHOLDS = {"review": 0.99, "hold": 0.999}  # without labels: the top 1% and 0.1% of training traffic
TARGET_PRECISION = {"review": 0.80, "hold": 0.95}


@dataclass
class History:
    """Feature rows of replayed history, with labels where the records carry them."""

    rows: np.ndarray
    labels: np.ndarray | None  # 1/0, -1 where unlabelled
    first: str | None
    last: str | None
    report: ReplayReport
    inputs: list[str] = field(default_factory=list)
    times: np.ndarray | None = None  # event time of each row, epoch seconds

    def cut(self, share: float) -> float:
        """The event time (epoch seconds) before which ``share`` of the orders lie."""
        if not 0.0 < share < 1.0:
            raise ValueError(f"the split must be between 0 and 1 (the earlier share), got {share}")
        if self.times is None or len(self.times) < 2:
            raise ValueError("a time split needs at least two orders")
        return float(np.quantile(self.times, share, method="lower"))

    def select(self, keep: np.ndarray) -> "History":
        """The rows where ``keep`` is true (window and counts of those rows)."""
        times = self.times[keep] if self.times is not None else None
        first = last = None
        if times is not None and len(times):
            first, last = _iso(float(times.min())), _iso(float(times.max()))
        return History(self.rows[keep], self.labels[keep] if self.labels is not None else None, first, last,
                       self.report, list(self.inputs), times)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def read_history(engine: DecisionEngine, records: Iterable[tuple[str, Any]], label_field: str | None = None,
                 progress: Callable[[int], None] | None = None, labels_by_order: dict[str, int] | None = None) -> History:
    """Replay ``records`` through ``engine`` and keep each order's feature row.

    ``labels_by_order``: labels from elsewhere (the reviewers' export), by order id, in place of
    ``label_field``; every order of the history is replayed, so the windows count the unlabelled ones."""
    scoring = Scoring(engine, None)
    report = ReplayReport()
    rows: list[list[float]] = []
    labels: list[int] = []
    times: list[float] = []
    first = last = None
    first_ts, last_ts = float("inf"), float("-inf")
    with fewer_collections():
        for n, (data, view, _, row) in enumerate(count_records(engine, records, report, scoring)):
            rows.append(row)
            if labels_by_order is not None:
                labels.append(labels_by_order.get(view.event.order_id, -1))
            elif label_field is not None:
                label = parse_label(data.get(label_field))
                labels.append(-1 if label is None else label)
            ts = view.event.ts
            times.append(ts)
            if ts < first_ts:
                first_ts, first = ts, view.event.event_time
            if ts > last_ts:
                last_ts, last = ts, view.event.event_time
            if progress is not None and not n % 4096:
                progress(n)
    report.orders = len(rows)
    return History(np.asarray(rows, dtype=float).reshape(len(rows), -1),
                   np.asarray(labels, dtype=np.int8) if label_field is not None or labels_by_order is not None else None,
                   first, last, report,
                   times=np.asarray(times, dtype=float))


TREES, MAX_SAMPLES = 100, 128  # measured on a validation seed: see the README's model section


def fit(rows: np.ndarray, *, trees: int = TREES, max_samples: int = MAX_SAMPLES, seed: int = 0):
    """An IsolationForest on ``rows`` and the reference quantiles of its training anomaly."""
    from sklearn.ensemble import IsolationForest

    from .forest import CompiledForest

    estimator = IsolationForest(n_estimators=trees, max_samples=min(max_samples, len(rows)), random_state=seed, n_jobs=1)
    estimator.fit(rows)
    anomaly = -CompiledForest(estimator).score_samples(rows)
    reference = np.quantile(anomaly, np.linspace(0.0, 1.0, REFERENCE_POINTS))
    return estimator, reference


def calibrate(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """For each outcome, the lowest score whose orders at or above it reach the target precision."""
    known = labels >= 0
    labels, scores = labels[known], scores[known]
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    out = {}
    for outcome, target in TARGET_PRECISION.items():
        ok = np.flatnonzero(precision >= target)
        # the deepest cut that keeps the precision, stopped at a change of score
        out[outcome] = round(float(s[ok[-1]]), 4) if ok.size else DEFAULT_THRESHOLDS[outcome]
    if out["review"] > out["hold"]:
        out["review"] = out["hold"]
    return out


def at_thresholds(labels: np.ndarray, scores: np.ndarray, thresholds: dict[str, float]) -> dict[str, Any]:
    known = labels >= 0
    labels, scores = labels[known], scores[known]
    positives = int(labels.sum())
    out = {}
    for name, cut in thresholds.items():
        hit = scores >= cut
        tp = int((hit & (labels == 1)).sum())
        flagged = int(hit.sum())
        out[name] = {"threshold": cut, "flagged": flagged,
                     "precision": round(tp / flagged, 4) if flagged else 0.0,
                     "recall": round(tp / positives, 4) if positives else 0.0}
    return out


def train(history: History, output: str, *, trees: int = TREES, max_samples: int = MAX_SAMPLES, seed: int = 0,
          label_field: str | None = None, split: float | None = None, command: str | None = None) -> dict[str, Any]:
    """Fit, measure and write the artefact with its metadata; returns the metadata.

    With ``split``, only the earliest share of the orders (by event time) is trained on."""
    import sklearn
    import skops

    cut = None
    inputs = history.inputs
    if split is not None:
        cut = history.cut(split)
        history = history.select(history.times < cut)
    if len(history.rows) < 2:
        raise ValueError("need at least 2 valid orders to train")
    started = time.perf_counter()
    estimator, reference = fit(history.rows, trees=trees, max_samples=max_samples, seed=seed)
    seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {"fit_seconds": round(seconds, 2)}
    thresholds = dict(DEFAULT_THRESHOLDS)
    labels = history.labels
    if labels is not None and (labels >= 0).any():
        from .forest import CompiledForest

        anomaly = -CompiledForest(estimator).score_samples(history.rows)
        scores = np.interp(anomaly, reference, np.linspace(0, 1, len(reference)))
        known = labels >= 0
        metrics["training_pr_auc"] = round(average_precision(labels[known], scores[known]), 4)
        metrics["positives"] = int((labels == 1).sum())
        metrics["labelled"] = int(known.sum())
        thresholds = calibrate(labels, scores)
        metrics["at_thresholds"] = at_thresholds(labels, scores, thresholds)
    metadata = {
        "estimator": "sklearn.ensemble.IsolationForest",
        "params": {"n_estimators": trees, "max_samples": int(estimator.max_samples_), "random_state": seed},
        "score": "share of training orders less anomalous (0-1, higher is more anomalous)",
        "training": {
            "inputs": inputs,
            "window": {"first": history.first, "last": history.last},
            "split": split,
            "cut": datetime.fromtimestamp(cut, timezone.utc).isoformat() if cut is not None else None,
            "rows": int(len(history.rows)),
            "invalid": history.report.invalid,
            "duplicates": history.report.duplicates,
            "label_field": label_field,
        },
        "thresholds": thresholds,
        "metrics": metrics,
        "libraries": {"python": platform.python_version(), "numpy": np.__version__,
                      "scikit-learn": sklearn.__version__, "skops": skops.__version__},
        "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command or " ".join(sys.argv),
    }
    return save_model(output, estimator, reference, metadata)
