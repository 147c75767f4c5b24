"""Model artefacts: a skops file and its metadata beside it, loaded only when trusted.

``models/NAME.skops`` holds a plain dict, of one of two kinds::

    {"format": "riskstream.model/1", "features": [...], "estimator": IsolationForest,
     "reference": ndarray}   # anomaly of the training rows at 1001 quantiles
    {"format": "riskstream.model/1", "kind": "supervised", "features": [...],
     "estimator": CalibratedClassifierCV(HistGradientBoostingClassifier)}

The first (no ``kind``, or ``"anomaly"``) is the unsupervised anomaly model;
the second learns from labels and scores the calibrated probability that an
order is abusive.

``models/NAME.json`` is its metadata: the model version, the feature set and
list, the training window and row count, library versions, metrics,
thresholds and the sha256 of the ``.skops`` bytes.

Loading never runs pickle.  :func:`load_model` refuses (``ModelError``) an
artefact whose bytes do not hash to the metadata's sha256, whose schema names
a type outside :data:`TRUSTED_TYPES` (checked on the skops schema before
anything is built, and again by skops itself with the same list), or whose
features are not the ones this code computes.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .features import FEATURE_SET, FEATURES
from .forest import CompiledForest

FORMAT = "riskstream.model/1"

#: Every type an artefact may contain.  Anything else is refused.
TRUSTED_TYPES: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "builtins.int",
    "builtins.float",
    "numpy.ndarray",
    "sklearn.ensemble._iforest.IsolationForest",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.tree._tree.Tree",
    # the supervised model
    "numpy.float64",
    "numpy.uint64",
    "numpy.random._generator.Generator",
    "_loss.CyHalfBinomialLoss",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
#: skops node kinds that only rebuild data and trusted classes (no function or method calls): a loss
#: object by its name, a random generator from its state.
_LOADERS = frozenset({"DictNode", "ListNode", "TupleNode", "JsonNode", "NdArrayNode", "ObjectNode", "TreeNode", "TypeNode",
                      "LossNode", "RandomGeneratorNode"})
ANOMALY, SUPERVISED = "anomaly", "supervised"


class ModelError(ValueError):
    """An artefact that cannot be used: missing, changed, untrusted or for other features."""


@dataclass
class Model:
    """A loaded model.  :meth:`score` maps feature rows to 0-1, higher is riskier.

    * ``kind == "anomaly"``: the share of training orders that looked less anomalous;
    * ``kind == "supervised"``: the calibrated probability that the order is abusive.
    """

    estimator: Any
    reference: np.ndarray | None
    version: str
    metadata: dict[str, Any]
    path: Path | None = None
    kind: str = ANOMALY

    def __post_init__(self) -> None:
        if self.kind == SUPERVISED:
            from .boosting import CompiledBoosting

            self.boosting = CompiledBoosting(self.estimator)
        else:
            assert self.reference is not None, "an anomaly model needs its reference quantiles"
            self.forest = CompiledForest(self.estimator)
            self._grid = np.linspace(0.0, 1.0, len(self.reference))

    def score(self, rows: np.ndarray) -> np.ndarray:
        if self.kind == SUPERVISED:
            return self.boosting.predict(rows)
        return np.interp(-self.forest.score_samples(rows), self.reference, self._grid)

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self.metadata.get("thresholds", {}))


REFERENCE_POINTS = 1001


def metadata_path(path: str | Path) -> Path:
    """``models/x.skops`` -> ``models/x.json``."""
    return Path(path).with_suffix(".json")


def artefact_path(path: str | Path) -> Path:
    """The ``.skops`` file of a path given as the artefact or as its metadata."""
    path = Path(path)
    return path.with_suffix(".skops") if path.suffix == ".json" else path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model(path: str | Path, estimator: Any, reference: np.ndarray | None, metadata: dict[str, Any],
               kind: str = ANOMALY) -> dict[str, Any]:
    """Write the artefact and its metadata; returns the metadata as written (with sha256 and version).

    ``reference``: the anomaly model's training quantiles; None for a supervised model."""
    import skops.io as sio

    path = artefact_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    content: dict[str, Any] = {"format": FORMAT, "features": list(FEATURES), "estimator": estimator}
    if kind == SUPERVISED:
        content["kind"] = SUPERVISED
    else:
        content["reference"] = np.asarray(reference, dtype=float)
    data = sio.dumps(content, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    digest = sha256(data)
    meta = dict(metadata)
    meta.update(format=FORMAT, kind=kind, feature_set=FEATURE_SET, features=list(FEATURES), file=path.name, sha256=digest)
    meta.setdefault("model_version", f"{path.stem}+{digest[:8]}")
    # The metadata is written last: a reader that sees new metadata finds the artefact it describes.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    meta_tmp = metadata_path(path).with_name(metadata_path(path).name + ".tmp")
    meta_tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    meta_tmp.replace(metadata_path(path))
    return meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    meta_file = metadata_path(artefact_path(path))
    try:
        return json.loads(meta_file.read_text())
    except FileNotFoundError:
        raise ModelError(f"{meta_file}: metadata not found (an artefact is loaded only with its metadata)") from None
    except ValueError as exc:
        raise ModelError(f"{meta_file}: metadata is not valid JSON ({exc})") from None


def load_model(path: str | Path) -> Model:
    """Load a trusted artefact, or raise :class:`ModelError` saying why not."""
    import skops.io as sio

    path = artefact_path(path)
    meta = read_metadata(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: model artefact not found") from None
    expected = meta.get("sha256")
    if not isinstance(expected, str) or sha256(data) != expected:
        raise ModelError(f"{path}: sha256 {sha256(data)[:16]}... does not match its metadata ({str(expected)[:16]}...); "
                         "the artefact or its metadata was changed after training - refusing to load it")
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: format {meta.get('format')!r} is not {FORMAT!r}")
    if meta.get("feature_set") != FEATURE_SET or meta.get("features") != list(FEATURES):
        theirs = meta.get("features") if isinstance(meta.get("features"), list) else []
        differ = sorted(set(theirs) ^ set(FEATURES)) or ["their order"]
        raise ModelError(f"{path}: trained on features {meta.get('feature_set')!r} ({len(theirs)}), this version computes "
                         f"{FEATURE_SET!r} ({len(FEATURES)}); they differ in {', '.join(differ)}; retrain the model (make model)")
    untrusted = untrusted_types(data)
    if untrusted:
        raise ModelError(f"{path}: untrusted types in the artefact: {', '.join(sorted(untrusted))}; refusing to load it")
    try:
        content = sio.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises several kinds; none may escape as anything but a refusal
        raise ModelError(f"{path}: cannot load the artefact: {exc}") from None
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

    if not isinstance(content, dict) or content.get("format") != FORMAT or content.get("features") != list(FEATURES):
        raise ModelError(f"{path}: the artefact does not hold a riskstream model")
    kind = content.get("kind", ANOMALY)
    if kind != meta.get("kind", ANOMALY):
        raise ModelError(f"{path}: the artefact holds a {kind} model, its metadata says {meta.get('kind', ANOMALY)}")
    estimator = content.get("estimator")
    if kind == SUPERVISED:
        members = getattr(estimator, "calibrated_classifiers_", None)
        if type(estimator) is not CalibratedClassifierCV or not members or any(
                type(m.estimator) is not HistGradientBoostingClassifier for m in members):
            raise ModelError(f"{path}: the artefact does not hold a calibrated gradient-boosting classifier")
        reference = None
    elif kind == ANOMALY:
        reference = content.get("reference")
        if type(estimator) is not IsolationForest or not isinstance(reference, np.ndarray):
            raise ModelError(f"{path}: the artefact does not hold a riskstream anomaly model")
    else:
        raise ModelError(f"{path}: unknown model kind {kind!r} (expected {ANOMALY} or {SUPERVISED})")
    try:
        return Model(estimator, reference, str(meta["model_version"]), meta, path, kind)
    except ValueError as exc:
        raise ModelError(f"{path}: cannot compile the model: {exc}") from None


def untrusted_types(data: bytes) -> set[str]:
    """Types (and skops node kinds) in an artefact's schema outside the trust list, read without loading it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        return {f"<not a skops artefact: {exc}>"}
    found: set[str] = set()
    trusted = set(TRUSTED_TYPES)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "__class__" in node:
                name = f"{node.get('__module__')}.{node['__class__']}"
                if name not in trusted:
                    found.add(name)
                loader = node.get("__loader__")
                if loader not in _LOADERS:
                    found.add(f"{name} (loaded by {loader})")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found
