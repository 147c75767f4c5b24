"""The decision engine: exact velocity windows, compiled rules and the policy.
No streaming code here; the offline and online drivers both call it."""

from .core import DecisionEngine, Policy
from .windows import Aggregate, VelocityWindow

__all__ = ["Aggregate", "DecisionEngine", "Policy", "VelocityWindow"]
