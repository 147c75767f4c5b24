"""A rule set: the validated, merged content of a rules directory.

Files are validated one by one against the schema in :mod:`.model`; the
checks that span files (unique ids, references to lists and sales) happen
here.  The version quoted in decisions is the analysts' label plus a hash of
the files' content, so two different rule sets never share a version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .errors import Problem
from .model import (
    Conditions,
    EntityList,
    GraphSettings,
    Header,
    Rule,
    RuleFile,
    Sale,
    Thresholds,
)


@dataclass(frozen=True)
class RuleSet:
    header: Header
    sales: dict[str, Sale]
    lists: dict[str, EntityList]
    rules: tuple[Rule, ...]
    digest: str
    places: dict[str, str] = field(default_factory=dict, compare=False)  # rule id -> "file:line"
    graph: GraphSettings | None = None  # None: no graph step; person is the account

    @property
    def version(self) -> str:
        return f"{self.header.version}+{self.digest[:8]}"

    @property
    def thresholds(self) -> Thresholds:
        return self.header.thresholds

    def without_graph(self) -> "RuleSet":
        """This rule set with no graph: the ``graph`` section and every rule with ``cluster`` conditions left out.

        What a driver that does not keep the entity graph decides with, and
        the baseline of ``riskstream bench graph``.
        """
        from dataclasses import replace

        return replace(self, graph=None, rules=tuple(r for r in self.rules if r.cluster is None))

    @property
    def uses_model(self) -> bool:
        """True when a rule's ``match`` reads ``model_score``."""
        return any(r.match is not None and r.match.model_score is not None for r in self.rules)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    @classmethod
    def from_files(cls, files: Iterable[RuleFile], digest: str = "0" * 64) -> "RuleSet":
        """Merge already validated files (used by tests and tools building rules in code)."""
        problems: list[Problem] = []
        ruleset = cls.merge([(f"<memory:{n}>", f, {}) for n, f in enumerate(files)], digest, problems)
        if problems:
            from .errors import RuleFileError

            raise RuleFileError(problems)
        return ruleset

    @classmethod
    def merge(
        cls, parsed: list[tuple[str, RuleFile, dict[tuple, int]]], digest: str, problems: list[Problem]
    ) -> "RuleSet":
        header: Header | None = None
        header_at = ""
        graph: GraphSettings | None = None
        graph_at = ""
        seen: dict[tuple[str, str], str] = {}
        sales: dict[str, Sale] = {}
        lists: dict[str, EntityList] = {}
        rules: list[Rule] = []
        places: dict[str, str] = {}

        def place(name: str, lines: dict[tuple, int], loc: tuple) -> tuple[str, int | None]:
            return name, lines.get(loc)

        def unique(kind: str, ident: str, name: str, lines: dict, loc: tuple) -> bool:
            file, line = place(name, lines, loc + ("id",))
            where = f"{file}:{line}" if line else file
            if (kind, ident) in seen:
                problems.append(Problem(file, line, f"{kind}[].id", f"{kind[:-1]} id {ident!r} is already defined at {seen[kind, ident]}"))
                return False
            seen[kind, ident] = where
            return True

        for name, data, lines in parsed:
            if data.ruleset is not None:
                if header is not None:
                    file, line = place(name, lines, ("ruleset",))
                    problems.append(Problem(file, line, "ruleset", f"the ruleset header is already given in {header_at}"))
                header, header_at = data.ruleset, name
            if data.graph is not None:
                if graph is not None:
                    file, line = place(name, lines, ("graph",))
                    problems.append(Problem(file, line, "graph", f"the graph section is already given in {graph_at}"))
                graph, graph_at = data.graph, name
            for n, sale in enumerate(data.sales):
                if unique("sales", sale.id, name, lines, ("sales", n)):
                    sales[sale.id] = sale
            for n, entity_list in enumerate(data.lists):
                if unique("lists", entity_list.id, name, lines, ("lists", n)):
                    lists[entity_list.id] = entity_list
            for n, rule in enumerate(data.rules):
                if unique("rules", rule.id, name, lines, ("rules", n)):
                    rules.append(rule)
                    file, line = place(name, lines, ("rules", n))
                    places[rule.id] = f"{file}:{line}" if line else file

        # References are checked once everything is known, wherever it was defined.
        for name, data, lines in parsed:
            for n, rule in enumerate(data.rules):
                loc = ("rules", n)
                for where, conditions in _conditions_of(rule):
                    if conditions.sale not in (None, "any") and conditions.sale not in sales:
                        file, line = place(name, lines, loc + where + ("sale",))
                        problems.append(Problem(file, line or lines.get(loc), f"rules[{n}].{'.'.join(where)}.sale", f"no sale with id {conditions.sale!r} (known: {', '.join(sales) or 'none'})"))
                if rule.velocity is not None and rule.velocity.where is not None and rule.velocity.where.model_score is not None:
                    file, line = place(name, lines, loc + ("velocity", "where", "model_score"))
                    problems.append(Problem(file, line or lines.get(loc), f"rules[{n}].velocity.where.model_score", "model_score is known only after the order is counted: use it in the rule's match"))
                if rule.list is not None and rule.list not in lists:
                    file, line = place(name, lines, loc + ("list",))
                    problems.append(Problem(file, line, f"rules[{n}].list", f"no list with id {rule.list!r} (known: {', '.join(lists) or 'none'})"))
                needs_sale = (
                    rule.purchase_limit is not None
                    or (rule.velocity is not None and rule.velocity.window == "sale")
                    or (rule.cluster is not None and rule.cluster.per_sale)
                )
                if needs_sale and not sales:
                    file, line = place(name, lines, loc)
                    problems.append(Problem(file, line, f"rules[{n}]", "this rule works per sale, but no sales are defined"))
                if rule.purchase_limit is not None and rule.purchase_limit.limit is None:
                    if sales and all(s.per_person_limit is None for s in sales.values()):
                        file, line = place(name, lines, loc + ("purchase_limit",))
                        problems.append(Problem(file, line, f"rules[{n}].purchase_limit.limit", "no limit given and no sale sets per_person_limit"))

        if graph is None and any(rule.cluster is not None for rule in rules):
            graph = GraphSettings()  # cluster rules with the default linking
        return cls(header or Header(), sales, lists, tuple(rules), digest, places, graph)


def _conditions_of(rule: Rule) -> list[tuple[tuple[str, ...], Conditions]]:
    out = []
    if rule.match is not None:
        out.append((("match",), rule.match))
    if rule.velocity is not None and rule.velocity.where is not None:
        out.append((("velocity", "where"), rule.velocity.where))
    return out
