"""Measuring a model on labelled history it was not trained on.

The report gives the PR-AUC of the model's score alone against the base rate
(the PR-AUC of a score that knows nothing), precision and recall at the
model's thresholds (from its metadata), and two pictures: the score histogram
by label and the precision-recall curve.

``signal`` says plainly what the PR-AUC is worth: ``none`` when it is within
:data:`NO_SIGNAL_LIFT` times the base rate (the score ranks abusive orders
barely better than chance: give it no weight in the rules), ``weak`` below
:data:`CLEAR_SIGNAL_LIFT` times, else ``clear``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..offline.labels import average_precision
from .artefact import Model
from .train import History, at_thresholds

SCORE_BATCH = 1000
NO_SIGNAL_LIFT = 1.5  #: PR-AUC within this many times the base rate: no signal
CLEAR_SIGNAL_LIFT = 3.0  #: PR-AUC at least this many times the base rate: a clear signal


def signal(pr_auc: float, base_rate: float) -> tuple[str, str]:
    """(``none`` | ``weak`` | ``clear``, a sentence saying so) for a PR-AUC against its base rate."""
    if base_rate <= 0:
        return "none", "no abusive order among the labelled ones: the PR-AUC means nothing"
    lift = pr_auc / base_rate
    if lift < NO_SIGNAL_LIFT:
        return "none", (f"no signal: PR-AUC {pr_auc:.4f} is within {NO_SIGNAL_LIFT:g}x the base rate {base_rate:.4f} "
                        f"({lift:.2f}x); the score ranks abusive orders little better than chance on this history - "
                        "give model_score rules no weight")
    if lift < CLEAR_SIGNAL_LIFT:
        return "weak", (f"weak signal: PR-AUC {pr_auc:.4f} is {lift:.2f}x the base rate {base_rate:.4f} "
                        f"(below {CLEAR_SIGNAL_LIFT:g}x)")
    return "clear", f"clear signal: PR-AUC {pr_auc:.4f} is {lift:.2f}x the base rate {base_rate:.4f}"


def score_rows(model: Model, rows: np.ndarray, batch: int = SCORE_BATCH) -> np.ndarray:
    """Scores in batches of ``batch`` rows, the size the replay uses."""
    if not len(rows):
        return np.zeros(0)
    return np.concatenate([model.score(rows[i:i + batch]) for i in range(0, len(rows), batch)])


def pr_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at each distinct score, highest score first."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / max(int(labels.sum()), 1)
    return recall, precision


def evaluate(model: Model, history: History, pictures: str | Path | None = None) -> dict[str, Any]:
    """Score ``history`` with ``model`` and measure it against the labels."""
    assert history.labels is not None, "evaluate needs labels"
    scores = score_rows(model, history.rows)
    known = history.labels >= 0
    labels, known_scores = history.labels[known].astype(int), scores[known]
    pr_auc = average_precision(labels, known_scores)
    base_rate = float(labels.mean()) if len(labels) else 0.0
    strength, verdict = signal(pr_auc, base_rate)
    report: dict[str, Any] = {
        "model_version": model.version,
        "kind": model.kind,
        "orders": int(len(scores)),
        "labelled": int(known.sum()),
        "positives": int(labels.sum()),
        "invalid": history.report.invalid,
        "window": {"first": history.first, "last": history.last},
        "pr_auc": round(pr_auc, 4),
        "base_rate": round(base_rate, 4),
        "lift": round(pr_auc / base_rate, 2) if base_rate else 0.0,
        "signal": strength,
        "verdict": verdict,
        "thresholds": at_thresholds(labels, known_scores, model.thresholds),
        "score_quantiles": {
            name: {q: round(float(np.quantile(known_scores[labels == value], float(q))), 4) for q in ("0.1", "0.5", "0.9")}
            for name, value in (("benign", 0), ("abusive", 1)) if (labels == value).any()
        },
    }
    if pictures is not None:
        report["pictures"] = draw(labels, known_scores, Path(pictures), model.version, report["pr_auc"])
    return report


def draw(labels: np.ndarray, scores: np.ndarray, stem: Path, version: str, pr_auc: float) -> dict[str, str]:
    """``STEM-histogram.png`` and ``STEM-pr.png``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {"histogram": f"{stem}-histogram.png", "pr_curve": f"{stem}-pr.png"}
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 1, 51)
    for value, name, colour in ((0, "benign", "tab:blue"), (1, "abusive", "tab:red")):
        chosen = scores[labels == value]
        if len(chosen):
            ax.hist(chosen, bins=bins, alpha=0.6, label=f"{name} ({len(chosen):,})", color=colour, density=True)
    ax.set_xlabel("model score")
    ax.set_ylabel("density")
    ax.set_yscale("log")
    ax.set_title(f"score by label - {version}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths["histogram"], dpi=100)
    plt.close(fig)

    recall, precision = pr_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.step(np.r_[0.0, recall], np.r_[precision[0] if len(precision) else 1.0, precision], where="post")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"precision-recall (PR-AUC {pr_auc:.3f})")
    fig.tight_layout()
    fig.savefig(paths["pr_curve"], dpi=100)
    plt.close(fig)
    return paths
