"""The anomaly model: features shared by training and scoring, trusted artefacts,
micro-batched scoring.

* :mod:`.features` - the one feature function and its documented table;
* :mod:`.artefact` - skops artefacts with metadata, sha256 and a trust list;
* :mod:`.scorer` - batched scoring in replay and in the workers, hot reload;
* :mod:`.train`, :mod:`.evaluate` - ``riskstream model train`` / ``evaluate``.
"""

from .artefact import Model, ModelError, load_model
from .features import FEATURES, FeatureExtractor
from .scorer import FixedModel, ReloadingModel, Scoring

__all__ = ["FEATURES", "FeatureExtractor", "FixedModel", "Model", "ModelError", "ReloadingModel", "Scoring", "load_model"]
