"""``riskstream bench model``: model scoring cost per row by batch size."""

from __future__ import annotations

import time
from typing import Any

from ..offline.history import read_records


def bench_model(path: str, model: str, rules: str | None = None, rows: int = 20_000) -> dict[str, Any]:
    """Scoring cost per row by batch size: the compiled forest used in production beside
    scikit-learn's ``score_samples`` on the same rows (features from the first ``rows`` orders)."""
    import numpy as np

    from ..assembly import load_engine
    from ..model import load_model
    from ..model.train import read_history

    loaded = load_model(model)
    history = read_history(load_engine(rules), (r for _, r in zip(range(rows), read_records([path]))))
    table = history.rows
    out: dict[str, Any] = {"model": loaded.version, "trees": len(loaded.estimator.estimators_), "rows": len(table),
                           "us_per_row": {}}
    for name, score in (("compiled", loaded.forest.score_samples), ("scikit-learn", loaded.estimator.score_samples)):
        figures = {}
        for batch in (1, 10, 100, 1000):
            calls = max(3, min(200, 2000 // batch)) if name == "compiled" else max(3, min(30, 300 // batch))
            started = time.perf_counter()
            for i in range(calls):
                start = (i * batch) % max(1, len(table) - batch)
                score(table[start:start + batch])
            figures[f"batch_{batch}"] = round((time.perf_counter() - started) / (calls * batch) * 1e6, 1)
        out["us_per_row"][name] = figures
    equal = np.allclose(loaded.forest.score_samples(table[:1000]), loaded.estimator.score_samples(table[:1000]),
                        rtol=0, atol=1e-12)
    out["compiled_equals_scikit_learn"] = bool(equal)
    return out
