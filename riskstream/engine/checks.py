"""Rules compiled into plain callables for the per-order hot path.

* :class:`Selector` - a rule's conditions: does the order qualify, and which
  of its items count?
* :class:`Tracker` - one sliding window fed by every qualifying order; rules
  with the same key, window and filter share it.
* :class:`Check` - one rule: reads trackers, the order and its cluster,
  returns a :class:`~riskstream.decisions.Reason` when it hits.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from operator import attrgetter
from typing import Callable, Hashable

from ..decisions import Reason
from ..events import Item
from ..rules.model import (
    Compare,
    Conditions,
    EntityList,
    Rule,
    Velocity,
    format_duration,
)
from ..rules.ruleset import RuleSet
from .gates import ClusterGate
from .order_view import EntityKeys, OrderView, SaleIndex
from .windows import Aggregate, new_window

_METRIC_INDEX = {"count": 0, "quantity": 1, "amount": 2, "distinct": 3}
_BELOW_ALL = float("-inf")  # a screen every aggregate passes


class Selector:
    """Compiled :class:`Conditions`: ``select(view)`` returns the counted items, or None."""

    def __init__(self, conditions: Conditions | None):
        self.conditions = conditions
        c = conditions
        self.skus = frozenset(c.skus) if c and c.skus else None
        self.flash = c.flash if c else None
        self.sale = c.sale if c else None
        self.item_filtered = bool(self.skus) or self.flash is True
        order_checks: list[tuple[str, Callable[[OrderView], float | None], Callable[[float], bool]]] = []
        if c is not None:
            if c.account_age is not None:
                order_checks.append(("account_age", attrgetter("account_age"), _holds(c.account_age)))
            if c.since_sale_start is not None:
                order_checks.append(("since_sale_start", attrgetter("since_sale_start"), _holds(c.since_sale_start)))
            if c.items is not None:
                order_checks.append(("items", lambda v: len(v.event.items), _holds(c.items)))
            if c.model_score is not None:  # None (no model loaded) makes the condition false
                order_checks.append(("model_score", attrgetter("model_score"), _holds(c.model_score)))
        self.order_checks = order_checks
        self.quantity = c.quantity if c else None
        self.amount = c.amount if c else None
        self._quantity_holds = _holds(self.quantity) if self.quantity is not None else None
        self._amount_holds = _holds(self.amount) if self.amount is not None else None
        self.trivial = c is None

    def select(self, view: OrderView) -> tuple[Item, ...] | None:
        if self.trivial:
            return view.event.items
        if self.sale is not None:
            if view.sale is None or (self.sale != "any" and view.sale.id != self.sale):
                return None
        items = view.event.items
        if self.flash is not None:
            if self.flash:
                items = view.flash_items
                if not items:
                    return None
            elif view.flash_items:
                return None
        if self.skus is not None:
            skus = self.skus
            items = tuple(i for i in items if i.sku in skus)
            if not items:
                return None
        for _, get, holds in self.order_checks:
            value = get(view)
            if value is None or not holds(value):
                return None
        if self._quantity_holds is not None:
            quantity = view.quantity if items is view.event.items else sum(i.quantity for i in items)
            if not self._quantity_holds(quantity):
                return None
        if self._amount_holds is not None and not self._amount_holds(self.amount_of(view, items)):
            return None
        return items

    def amount_of(self, view: OrderView, items: tuple[Item, ...]) -> float:
        if self.item_filtered:
            return sum(i.quantity * i.unit_price for i in items)
        return view.event.amount

    def values(self, view: OrderView, items: tuple[Item, ...]) -> dict[str, float | None]:
        """The values the conditions looked at, for the decision's reasons."""
        out: dict[str, float | None] = {name: get(view) for name, get, _ in self.order_checks}
        if self.quantity is not None:
            out["quantity"] = sum(i.quantity for i in items)
        if self.amount is not None:
            out["amount"] = self.amount_of(view, items)
        return out


_BOUND_TESTS: dict[str, Callable[[float], Callable[[float], bool]]] = {
    "lt": lambda bound: lambda value: value < bound,
    "le": lambda bound: lambda value: value <= bound,
    "gt": lambda bound: lambda value: value > bound,
    "ge": lambda bound: lambda value: value >= bound,
}


def _holds(compare: Compare) -> Callable[[float], bool]:
    """``compare.holds`` as one plain comparison when it has a single bound."""
    bounds = [(name, getattr(compare, name)) for name in _BOUND_TESTS if getattr(compare, name) is not None]
    if len(bounds) == 1:
        name, bound = bounds[0]
        return _BOUND_TESTS[name](bound)
    return compare.holds


class Tracker:
    """A sliding window fed by the orders a selector lets through, keyed per entity."""

    def __init__(self, velocity: Velocity, window_seconds: float, grace: float):
        self.key = tuple(e.value for e in velocity.key)
        self.of = velocity.of.value if velocity.of is not None else None
        self.per_item = "sku" in self.key
        self.entity_parts = tuple(e for e in self.key if e != "sku")
        self.single = self.entity_parts[0] if len(self.entity_parts) == 1 else None
        self.selector = Selector(velocity.where)
        self.window = new_window(window_seconds, distinct=self.of is not None, grace=grace)
        self.label = "+".join(self.key)
        self.identity = tracker_identity(velocity, window_seconds)

    def touches(self, view: OrderView) -> list[tuple[Hashable, int, float, Hashable]]:
        """What this order adds to the window: ``(key, quantity, amount, distinct value)`` per key.

        Empty when the order does not qualify or lacks an entity of the key.
        The stream workers send these to the partition that owns the key.
        """
        items = self.selector.select(view)
        if items is None:
            return []
        key = self._key(view)
        if key is None:
            return []
        value = None
        if self.of is not None:
            value = view.entity(self.of)
            if value is None:
                return []
        if not self.per_item:
            return [(key, *self._totals(view, items), value)]
        prefix = (key,) if self.single is not None else key
        return [((*prefix, i.sku), i.quantity, i.quantity * i.unit_price, value) for i in items]

    def touch(self, view: OrderView) -> list[Aggregate]:
        """Count the order in its key(s); the aggregate of each key touched."""
        if self.single is None or self.per_item:
            t = view.event.ts
            add = self.window.add
            return [add(key, t, qty, amount, value) for key, qty, amount, value in self.touches(view)]
        # One entity, one key per order: count it straight away (what touches() lists).
        selector = self.selector
        items = view.event.items if selector.trivial else selector.select(view)
        if items is None:
            return []
        key = view.entity(self.single)
        if key is None:
            return []
        value = None
        if self.of is not None:
            value = view.entity(self.of)
            if value is None:
                return []
        qty, amount = self._totals(view, items)
        return [self.window.add(key, view.event.ts, qty, amount, value)]

    def counter(self) -> Callable[[OrderView], list[Aggregate]]:
        """:meth:`touch` as one closure with what it reads bound once (the engine calls it per
        order): an unfiltered window of one entity - most windows - counts without a method
        call more than the window's own; any other window is :meth:`touch` itself."""
        if self.single is None or self.per_item or not self.selector.trivial:
            return self.touch
        name, of, add = self.single, self.of, self.window.add
        if of is None:
            def count(view: OrderView) -> list[Aggregate]:
                known = view._entity
                key = known[name] if name in known else view.entity(name)
                if key is None:
                    return []
                return [add(key, view.event.ts, view.quantity, view.event.amount, None)]
        else:
            def count(view: OrderView) -> list[Aggregate]:
                known = view._entity
                key = known[name] if name in known else view.entity(name)
                if key is None:
                    return []
                value = known[of] if of in known else view.entity(of)
                if value is None:
                    return []
                return [add(key, view.event.ts, view.quantity, view.event.amount, value)]
        return count

    def _key(self, view: OrderView) -> Hashable | None:
        """The order's key in this window (without the SKU); None when an entity is missing."""
        if self.single is not None:
            return view.entity(self.single)
        parts = []
        for name in self.entity_parts:
            part = view.entity(name)
            if part is None:
                return None
            parts.append(part)
        return tuple(parts)

    def _totals(self, view: OrderView, items: tuple[Item, ...]) -> tuple[int, float]:
        """Units and amount one order adds to a key (of the counted items only, when filtered)."""
        if not self.selector.item_filtered:  # every item counts
            return view.quantity, view.event.amount
        if len(items) == 1:
            item = items[0]
            return item.quantity, item.quantity * item.unit_price
        return sum(i.quantity for i in items), self.selector.amount_of(view, items)


def tracker_identity(velocity: Velocity, window_seconds: float) -> tuple:
    """Rules whose windows are the same share one tracker."""
    where = velocity.where.model_dump_json(exclude_none=True) if velocity.where else ""
    return (tuple(e.value for e in velocity.key), velocity.of, window_seconds, where)


class Check:
    """One compiled rule."""

    def __init__(self, rule: Rule):
        self.rule = rule
        self.id = rule.id
        self.kind = rule.kind
        self.shadow = rule.mode == "shadow"
        self.score = float(rule.score)
        self.outcome = rule.outcome
        self.gate = Selector(rule.match) if rule.match is not None else None
        self.cluster_gate = ClusterGate(rule.cluster) if rule.cluster is not None else None

    def reason(self, value, threshold=None, window=None, key=None) -> Reason:
        return Reason(self.id, self.kind, value, threshold, window, key, self.score, self.outcome, self.shadow)

    def evaluate(self, view: OrderView, touched: list[list[Aggregate]]) -> Reason | None:
        raise NotImplementedError

    def screen(self) -> tuple[int, int, float]:
        """``(tracker, metric, above)``: :meth:`evaluate` returns None unless the largest
        ``metric`` of the tracker's aggregates is above ``above`` (tracker -1: no such screen)."""
        return -1, 0, 0.0


class VelocityCheck(Check):
    def __init__(self, rule: Rule, tracker_id: int, tracker: Tracker):
        super().__init__(rule)
        velocity = rule.velocity
        assert velocity is not None and rule.above is not None
        self.tracker_id = tracker_id
        self.metric = _METRIC_INDEX[velocity.metric]
        self.above = rule.above
        self.window = "sale" if velocity.window == "sale" else format_duration(velocity.window)
        self.key = tracker.label

    def screen(self) -> tuple[int, int, float]:
        return self.tracker_id, self.metric, self.above

    def evaluate(self, view: OrderView, touched: list[list[Aggregate]]) -> Reason | None:
        aggregates = touched[self.tracker_id]
        if not aggregates:
            return None
        metric = self.metric
        value = aggregates[0][metric] if len(aggregates) == 1 else max(a[metric] for a in aggregates)
        if not (value > self.above) or (self.gate is not None and self.gate.select(view) is None):
            return None
        if self.cluster_gate is not None and self.cluster_gate.values(view) is None:
            return None
        return self.reason(_number(value), self.above, self.window, self.key)


class PurchaseLimitCheck(Check):
    """Units of one flash SKU per person per sale, against the sale's limit.

    When the rule set keeps a graph, a person is the account's cluster: the
    units of every member are added up (exactly, whenever they joined).
    """

    def __init__(self, rule: Rule, tracker_id: int, tracker: Tracker, ruleset: RuleSet):
        super().__init__(rule)
        assert rule.purchase_limit is not None
        self.tracker_id = tracker_id
        self.by_cluster = rule.purchase_limit.per == "person" and ruleset.graph is not None
        override = rule.purchase_limit.limit
        self.limits = {
            sale.id: override if override is not None else sale.per_person_limit for sale in ruleset.sales.values()
        }
        self.key = tracker.label

    def screen(self) -> tuple[int, int, float]:
        return self.tracker_id, 1, _BELOW_ALL  # no aggregates, no hit

    def evaluate(self, view: OrderView, touched: list[list[Aggregate]]) -> Reason | None:
        aggregates = touched[self.tracker_id]
        if not aggregates or view.sale is None:
            return None
        limit = self.limits.get(view.sale.id)
        if limit is None or (self.gate is not None and self.gate.select(view) is None):
            return None
        cluster = view.cluster
        if self.by_cluster and cluster is not None and cluster.size > 1:
            value = cluster.flash(view)[0]
            key = "cluster"
        else:
            value = aggregates[0].quantity if len(aggregates) == 1 else max(a.quantity for a in aggregates)
            key = self.key
        if value > limit:
            if self.cluster_gate is not None and self.cluster_gate.values(view) is None:
                return None
            return self.reason(_number(value), limit, "sale", key)
        return None


class ClusterCheck(Check):
    """Conditions on the order's cluster of linked accounts (size, new accounts, flash buying)."""

    def __init__(self, rule: Rule):
        super().__init__(rule)
        assert self.cluster_gate is not None
        self.window = "sale" if self.cluster_gate.per_sale else None

    def evaluate(self, view: OrderView, touched: list[list[Aggregate]]) -> Reason | None:
        if view.cluster is None or (self.gate is not None and self.gate.select(view) is None):
            return None
        values = self.cluster_gate.values(view)  # type: ignore[union-attr]
        if values is None:
            return None
        return self.reason(values, self.cluster_gate.threshold, self.window, "cluster")  # type: ignore[union-attr]


class MatchCheck(Check):
    def evaluate(self, view: OrderView, touched: list[list[Aggregate]]) -> Reason | None:
        assert self.gate is not None
        items = self.gate.select(view)
        if items is None:
            return None
        return self.reason(self.gate.values(view, items) or True)


class ListCheck(Check):
    """The order's entity is on a list.  IP lists take single addresses and CIDR prefixes."""

    def __init__(self, rule: Rule, entity_list: EntityList, keys: EntityKeys):
        super().__init__(rule)
        self.list_id = entity_list.id
        self.entity = entity_list.entity
        self.networks: dict[tuple[int, int], set[int]] = {}  # (version, prefix length) -> network numbers
        self.members: set[str] = set()
        self._ip_hits: dict[str, bool] = {}
        for entry in entity_list.entries:
            if self.entity == "ip":
                net = ipaddress.ip_network(entry.strip(), strict=False)
                self.networks.setdefault((net.version, net.prefixlen), set()).add(int(net.network_address))
            elif self.entity == "account":
                self.members.add(entry)
            else:
                key = keys.key(_LIST_KINDS[self.entity], entry)
                if key is not None:
                    self.members.add(key)
        self._ipv4_only = all(version == 4 for version, _ in self.networks)

    def evaluate(self, view: OrderView, touched: list[list[Aggregate]]) -> Reason | None:
        if self.entity == "ip":
            if not self.networks:
                return None
        elif not self.members:
            return None
        if self.gate is not None and self.gate.select(view) is None:
            return None
        if self.entity == "ip":
            raw = view.event.ip
            if raw is None:
                return None
            hit = self._ip_hits.get(raw)
            if hit is None:
                if len(self._ip_hits) >= 100_000:
                    self._ip_hits.clear()
                hit = self._ip_hits[raw] = _ip_listed(raw, self.networks, self._ipv4_only)
            if not hit:
                return None
        else:
            value = view.entity(_LIST_KINDS[self.entity])
            if value is None or value not in self.members:
                return None
        return self.reason(self.list_id, key=self.entity)


_LIST_KINDS = {"account": "account", "ip": "ip", "device": "device", "phone": "phone", "payment": "payment", "address": "address"}

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A plain dotted quad (no leading zeros, spaces or other digits): exactly the
# IPv4 text ipaddress accepts, and read the same by inet_aton.
_DOTTED_QUAD = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}").fullmatch


def _ip_listed(raw: str, networks: dict[tuple[int, int], set[int]], ipv4_only: bool = False) -> bool:
    """Is ``raw`` in one of ``networks``?  ``ipv4_only``: they are all IPv4 networks."""
    if _DOTTED_QUAD(raw) is not None:
        number, version = int.from_bytes(socket.inet_aton(raw), "big"), 4
    else:
        if ipv4_only and "ffff" not in raw.lower():
            # Not a dotted quad: IPv6 or nothing.  IPv6 can only hit an IPv4
            # network as IPv4-mapped (::ffff:a.b.c.d), which spells out ffff.
            return False
        try:
            address = ipaddress.ip_address(raw)
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        number, version = int(address), address.version
    bits = 32 if version == 4 else 128
    for (net_version, prefix), nets in networks.items():
        if net_version == version and (number >> (bits - prefix)) << (bits - prefix) in nets:
            return True
    return False


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def compile_checks(ruleset: RuleSet, keys: EntityKeys, sales: SaleIndex, grace: float) -> tuple[list[Tracker], list[Check]]:
    """Trackers (shared windows) and checks (rules), in rule-file order."""
    trackers: list[Tracker] = []
    identities: dict[tuple, int] = {}
    checks: list[Check] = []

    def tracker_for(velocity: Velocity) -> tuple[int, Tracker]:
        seconds = sales.longest + 1.0 if velocity.window == "sale" else float(velocity.window)
        identity = tracker_identity(velocity, seconds)
        if identity not in identities:
            identities[identity] = len(trackers)
            trackers.append(Tracker(velocity, seconds, grace))
        index = identities[identity]
        return index, trackers[index]

    for rule in ruleset.rules:
        if rule.velocity is not None:
            checks.append(VelocityCheck(rule, *tracker_for(rule.velocity)))
        elif rule.purchase_limit is not None:
            # With a graph the cluster's units are added up from per-account tallies (see PurchaseLimitCheck).
            per = "person" if rule.purchase_limit.per == "person" and ruleset.graph is None else "account"
            velocity = Velocity(key=[per, "sale", "sku"], metric="quantity", window="sale", where=Conditions(flash=True))
            checks.append(PurchaseLimitCheck(rule, *tracker_for(velocity), ruleset))
        elif rule.list is not None:
            checks.append(ListCheck(rule, ruleset.lists[rule.list], keys))
        elif rule.cluster is not None:
            checks.append(ClusterCheck(rule))
        else:
            checks.append(MatchCheck(rule))
    return trackers, checks
