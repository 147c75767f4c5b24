"""Deprecated: the order pipeline's client moved to :mod:`riskstream.kafka.pipeline`.

``from riskstream.pipeline import OrderPublisher`` keeps working for one
release, with a :class:`DeprecationWarning`; import from
``riskstream.kafka.pipeline`` instead.
"""

from __future__ import annotations

import warnings
from typing import Any

_MOVED = ("PRODUCER_DEFAULTS", "DecisionReader", "EventError", "OrderPublisher", "TopicNotFound")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(f"riskstream.pipeline.{name} moved to riskstream.kafka.pipeline.{name}; "
                      "riskstream.pipeline goes away in the next release", DeprecationWarning, stacklevel=2)
        from .kafka import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'riskstream.pipeline' has no attribute {name!r}")
