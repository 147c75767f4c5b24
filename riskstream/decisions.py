"""Outcomes, reasons and decision records.

A decision record is the one shape the order pipeline reads, offline and online
(schema ``riskstream.decision/v1``).  Outcomes are ordered so that competing
signals merge by taking the strongest::

    allow < challenge < review < hold < freeze

``challenge`` asks for step-up verification (an SMS code) and lets the order
through once the customer passes it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

DECISION_SCHEMA = "riskstream.decision/v1"


class Outcome(enum.IntEnum):
    """What the order pipeline should do with an order; larger is stronger."""

    ALLOW = 0
    CHALLENGE = 1
    REVIEW = 2
    HOLD = 3
    FREEZE = 4

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def parse(cls, text: str) -> "Outcome":
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(o.label for o in cls)
            raise ValueError(f"unknown outcome {text!r} (expected one of {names})") from None

    @property
    def flagged(self) -> bool:
        """True when a reviewer or the customer must act before the order ships."""
        return self is not Outcome.ALLOW

    @property
    def blocked(self) -> bool:
        """True when the order is stopped (hold or freeze)."""
        return self >= Outcome.HOLD


_LABELS = tuple(Outcome(n).name.lower() for n in range(len(Outcome)))  # indexed by value
OUTCOME_LABELS = _LABELS


@dataclass(slots=True, frozen=True)
class Reason:
    """One rule that hit: what was seen, against which threshold, and its effect."""

    rule: str
    kind: str
    value: Any
    threshold: Any = None
    window: str | None = None
    key: str | None = None
    score: float = 0.0
    outcome: Outcome | None = None
    shadow: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "kind": self.kind, "value": self.value}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.window is not None:
            out["window"] = self.window
        if self.key is not None:
            out["key"] = self.key
        if self.score:
            out["score"] = self.score
        if self.outcome is not None:
            out["outcome"] = self.outcome.label
        return out


@dataclass(slots=True)
class Decision:
    """The verdict on one order, with everything needed to explain it.

    ``reasons`` are the active rules that hit; ``shadow`` the shadow rules that
    hit, and ``shadow_action`` the action the order would have had if the shadow
    rules were active.  ``revision`` grows when a decision is escalated later;
    the last revision per order is the decision.  ``cluster`` names the
    account's cluster of linked accounts (when it has one): its id, its size
    and the shared entities that put the account in it.  ``sale`` is the flash
    sale the engine matched the order to (None: none), ``amount`` and
    ``currency`` the order's as in its event; revisions carry them over.
    """

    order_id: str
    account_id: str
    action: Outcome
    score: float
    reasons: list[Reason]
    ruleset_version: str
    event_time: str
    decided_at: str
    revision: int = 1
    shadow: list[Reason] = field(default_factory=list)
    shadow_action: Outcome | None = None
    model_version: str | None = None
    model_score: float | None = None
    cluster_id: str | None = None
    cluster: dict[str, Any] | None = None  # id, size and the links that put the account in its cluster
    shadow_ruleset: dict[str, Any] | None = None  # a shadow rule set's version and action, when one runs
    sale: str | None = None  # the flash sale the order was matched to
    amount: float | None = None  # the order's amount (its event's, or the sum of its items)
    currency: str | None = None  # the order's currency, when its event has one

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": DECISION_SCHEMA,
            "order_id": self.order_id,
            "account_id": self.account_id,
            "action": self.action.label,
            "score": self.score,
            "reasons": [r.to_dict() for r in self.reasons],
            "ruleset_version": self.ruleset_version,
            "model_version": self.model_version,
            "model_score": self.model_score,
            "cluster_id": self.cluster_id,
            "event_time": self.event_time,
            "decided_at": self.decided_at,
            "revision": self.revision,
            "sale": self.sale,
            "amount": self.amount,
        }
        if self.currency is not None:
            out["currency"] = self.currency
        if self.cluster is not None:
            out["cluster"] = self.cluster
        if self.shadow_ruleset is not None:
            out["shadow_ruleset"] = self.shadow_ruleset
        if self.shadow:
            out["shadow"] = [r.to_dict() for r in self.shadow]
            out["shadow_action"] = (self.shadow_action or self.action).label
        return out
