"""Cluster conditions compiled for the hot path: does an order's cluster satisfy a rule's ``cluster`` block?

A :class:`ClusterGate` reads only what the view carries (its cluster facts or
snapshot), so the rules can be compiled without the graph step itself.
"""

from __future__ import annotations

from ..rules.model import ClusterConditions
from .order_view import OrderView

__all__ = ["ClusterGate"]


class ClusterGate:
    """Compiled :class:`ClusterConditions`: ``values(view)`` gives the values seen, or None when they fail."""

    def __init__(self, conditions: ClusterConditions):
        self.conditions = conditions
        self.size = conditions.size
        self.new_share = conditions.new_share
        self.flash_units = conditions.flash_units
        self.flash_orders = conditions.flash_orders
        self.per_sale = conditions.per_sale
        self.via = frozenset(conditions.via) if conditions.via is not None else None
        self.threshold = conditions.model_dump(exclude_none=True)

    def links_via(self, kinds: set[str]) -> list[str] | None:
        """The kinds of ``via`` among ``kinds`` (sorted), or None when there are none."""
        assert self.via is not None
        hit = sorted(self.via.intersection(kinds))
        return hit or None

    def values(self, view: OrderView) -> dict[str, float] | None:
        facts = view.cluster
        if facts is None:
            return None  # no graph runs here
        out: dict[str, float] = {}
        if self.size is not None:
            if not self.size.holds(facts.size):
                return None
            out["size"] = facts.size
        if self.per_sale:
            if view.sale is None or not view.flash_items:
                return None
            units, orders = facts.flash(view)
            if self.flash_units is not None:
                if not self.flash_units.holds(units):
                    return None
                out["flash_units"] = units
            if self.flash_orders is not None:
                if not self.flash_orders.holds(orders):
                    return None
                out["flash_orders"] = orders
        if self.new_share is not None:
            share = facts.new_share(view)
            if not self.new_share.holds(share):
                return None
            out["new_share"] = round(share, 3)
        if self.via is not None:
            via = self.links_via(facts.shared_kinds()) if facts.size > 1 else None
            if via is None:
                return None
            out["via"] = via  # type: ignore[assignment]
        return out
