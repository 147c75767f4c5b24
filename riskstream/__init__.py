"""riskstream: anti-scalper risk decisions for e-commerce flash-sale orders.

Order events (:class:`OrderEvent`) go through a :class:`DecisionEngine` built
from analysts' rule files (:class:`RuleSet` of :class:`Rule`); each order gets
one :class:`Decision` with an :class:`Outcome` and its :class:`Reason` list.
Accounts linked through shared entities form a :class:`Cluster`.  Reviewers'
verdicts (:class:`Verdict`) freeze, release or snooze, and come back as new
decision revisions.

Errors::

    ValueError
     +-- EventError        a bad order event (names the field)
     +-- RuleFileError     invalid rule files (file, line, field for each problem)
     +-- VerdictError      a bad reviewer verdict (names the field)
"""

from .decisions import Decision, Outcome, Reason
from .engine import DecisionEngine
from .events import EventError, Item, OrderEvent, parse_order
from .graph import Cluster
from .rules import Rule, RuleFileError, RuleSet, load_ruleset
from .verdicts import Verdict, VerdictError, parse_verdict

__all__ = [
    "Cluster",
    "Decision",
    "DecisionEngine",
    "EventError",
    "Item",
    "OrderEvent",
    "Outcome",
    "Reason",
    "Rule",
    "RuleFileError",
    "RuleSet",
    "Verdict",
    "VerdictError",
    "load_ruleset",
    "parse_order",
    "parse_verdict",
]
