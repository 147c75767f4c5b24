"""Scoring orders with the anomaly model, in micro-batches.

A single-row ``predict`` costs milliseconds; a batch of a thousand rows costs
about as much as a few single rows.  So an order's decision is cut in two
(see :meth:`DecisionEngine.count` and :meth:`DecisionEngine.conclude`):

1. *count* - in input order: count the order in every window, compute its
   feature row (:meth:`Scoring.features`), keep ``(view, touched, row)``;
2. *conclude* - once per batch: score every row at once, set each order's
   ``model_score`` and evaluate the rules (:meth:`Scoring.conclude`).

Window state is only touched in step 1, in input order, so decisions are the
same whatever the batch size, and the output keeps the input order.  Offline,
batches hold ``batch`` orders; in the stream workers a batch is what the
decide agent received within its bounded wait (20 ms), so the model adds at
most one batch's scoring time to an order's latency.

A :class:`ReloadingModel` watches the artefact's metadata and swaps in a new
version between batches; an artefact that fails the checks of
:func:`~riskstream.model.artefact.load_model` is refused and the running model
stays.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Protocol

import numpy as np

from ..decisions import Decision
from ..engine import Aggregate, DecisionEngine
from ..engine.order_view import OrderView
from .artefact import Model, ModelError, artefact_path, load_model, metadata_path
from .features import FeatureExtractor

log = logging.getLogger("riskstream.model")

DEFAULT_BATCH = 1000
Counted = tuple  # (OrderView, touched, feature row)


class ModelSource(Protocol):
    def current(self) -> Model: ...


class FixedModel:
    """One model for the whole run (replay, evaluate)."""

    def __init__(self, model: Model):
        self.model = model

    def current(self) -> Model:
        return self.model


class ReloadingModel:
    """The model at ``path``, reloaded when its metadata file changes (checked every ``check_every`` s).

    Training writes the artefact first and its metadata last, so a change of
    the metadata announces a complete new artefact.
    """

    def __init__(self, path: str | os.PathLike, check_every: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.path = artefact_path(path)
        self.model = load_model(self.path)
        self.check_every = check_every
        self.clock = clock
        self._stamp = self._stat()
        self._refused: tuple | None = None
        self._next = clock() + check_every

    def _stat(self) -> tuple | None:
        try:
            st = metadata_path(self.path).stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> Model:
        now = self.clock()
        if now >= self._next:
            self._next = now + self.check_every
            self.poll()
        return self.model

    def poll(self) -> bool:
        """Load the artefact again if its metadata changed; True when a new version is in use."""
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return False
        try:
            model = load_model(self.path)
        except ModelError as exc:
            if stamp != self._refused:
                log.error("model reload refused, keeping %s: %s", self.model.version, exc)
                self._refused = stamp
            return False
        self._stamp = stamp
        if model.version == self.model.version:
            return False
        log.warning("model %s replaces %s", model.version, self.model.version)
        self.model = model
        return True


class Scoring:
    """The anomaly model on one engine: feature rows at count time, batched scores at conclude time."""

    def __init__(self, engine: DecisionEngine, source: ModelSource | None, batch: int = DEFAULT_BATCH):
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.engine = engine
        self.source = source
        self.batch = batch
        self.extractor = FeatureExtractor(engine)

    def features(self, view: OrderView, touched: list[list[Aggregate]]) -> list[float]:
        """The order's feature row; call once per counted order, in input order."""
        extractor = self.extractor
        return extractor.row(view, touched, extractor.observe(view))

    def scores(self, rows: list[list[float]]) -> tuple[np.ndarray, str | None]:
        if self.source is None or not rows:
            return np.full(len(rows), np.nan), None
        model = self.source.current()
        return model.score(np.asarray(rows, dtype=float)), model.version

    def conclude(self, counted: list[Counted], escalate: bool = True) -> list[Decision]:
        """Score a batch of counted orders at once and decide each, in order
        (``escalate``: see :meth:`~riskstream.engine.DecisionEngine.conclude`)."""
        scores, version = self.scores([row for _, _, row in counted])
        conclude = self.engine.conclude
        out = []
        for (view, touched, _), score in zip(counted, scores.tolist()):
            if version is not None:
                view.model_score = round(score, 4)
            out.append(conclude(view, touched, version, escalate))
        return out
