"""Analysts' rule files: the language (:mod:`.model`), loading with precise
errors (:mod:`.loader`) and the merged rule set (:mod:`.ruleset`)."""

from .errors import Problem, RuleFileError
from .loader import load_ruleset, rule_files, ruleset_from_sources
from .model import Rule, RuleFile
from .ruleset import RuleSet

__all__ = ["Problem", "Rule", "RuleFile", "RuleFileError", "RuleSet", "load_ruleset", "rule_files", "ruleset_from_sources"]
