"""The engine's graph step: link the order's account, find its cluster, escalate rings.

Runs only when the rule set keeps a graph (a ``graph`` section or a
``cluster`` rule).  Per order, :meth:`GraphStep.observe`:

1. names the order's entity nodes (``"kind:pseudonym"``, the keys the rules
   already compute) and links them in the :class:`~riskstream.graph.ClusterIndex`
   (in one process the index itself knows which links it holds; the stream
   puts a :class:`~riskstream.graph.LinkSpotter` in front of it instead, so
   only new links travel to the one graph instance);
2. tallies the order's flash units per account, SKU and sale;
3. puts :class:`ClusterFacts` on the view: the cluster id, its size and
   members, and (computed on demand) its share of new accounts and its flash
   units and orders in the sale.  ``person`` becomes the cluster id.

After the decision, :meth:`GraphStep.escalate` looks at the cluster rules
that hit with a forced outcome: the earlier orders of the cluster's members
within ``escalate_within`` that the rule's ``match`` selects get a new
decision record, one revision higher, so a ring's first orders are stopped
too, not only the ones placed after the cluster crossed the threshold.
Each member is swept once per cluster and rule; its later orders are
decided with the cluster already over the threshold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..address_match import AddressMatcher, address_signature
from ..decisions import Decision, Reason
from ..events import EventError
from ..graph import ClusterIndex
from ..rules.model import ClusterConditions, GraphSettings
from .order_view import OrderView

if TYPE_CHECKING:
    from .checks import Check
    from .core import Policy

MAX_LINKS_IN_RECORD = 8


class ClusterFacts:
    """What the rules see of an order's cluster; the costly parts are computed on demand."""

    __slots__ = ("id", "size", "account", "ts", "_step", "_members", "_new_share", "_flash")

    def __init__(self, step: "GraphStep", account: str, ts: float, found: tuple[str, int] | None):
        self._step = step
        self.account = account
        self.ts = ts
        if found is None:
            self.id: str | None = None
            self.size = 1
        else:
            self.id, self.size = found
        self._members: list[str] | None = None
        self._new_share: float | None = None
        self._flash: tuple[int, int] | None = None

    @property
    def members(self) -> list[str]:
        """The cluster's accounts, oldest first (listed on first use)."""
        if self._members is None:
            self._members = [self.account] if self.id is None else self._step.index.members(self.account)
        return self._members

    def new_share(self, view: OrderView) -> float:
        """Share of members younger than ``graph.new_account_age`` at this order."""
        if self._new_share is None:
            step = self._step
            young = step.settings.new_account_age
            if self.size == 1:
                age = view.account_age
                self._new_share = 1.0 if age is not None and age < young else 0.0
            else:
                since = self.ts - young
                new = sum(1 for created in step.index.members_born(self.account) if created is not None and created > since)
                self._new_share = new / self.size
        return self._new_share

    def flash(self, view: OrderView) -> tuple[int, int]:
        """``(units, orders)`` of the order's flash SKU bought by the cluster in this sale (max over its SKUs)."""
        if self._flash is None:
            units = orders = 0
            if view.sale is not None and view.flash_items:
                buys = self._step.flash_buys.get(view.sale.id, {})
                for item in view.flash_items:
                    u = o = 0
                    for member in self.members:
                        tally = buys.get(member)
                        if tally is not None:
                            got = tally.get(item.sku)
                            if got is not None:
                                o += got[0]
                                u += got[1]
                    units, orders = max(units, u), max(orders, o)
            self._flash = (units, orders)
        return self._flash

    def shared_kinds(self) -> set[str]:
        """Kinds of the entities the account shares with another member."""
        return self._step.shared_kinds(self.account)

    def record(self, account: str | None = None) -> dict[str, Any]:
        """The decision record's ``cluster``: its id, size and the links that put ``account``
        (the order's account by default) in it."""
        index = self._step.index
        links = []
        for node in index.links_of(account or self.account):
            sharing = index.sharing(node)
            if sharing > 1:
                kind, _, key = node.partition(":")
                links.append({"kind": kind, "entity": key, "accounts": sharing})
                if len(links) == MAX_LINKS_IN_RECORD:
                    break
        return {"id": self.id, "size": self.size, "links": links}


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


class _Recent:
    """An order decided within ``escalate_within``: what escalation needs of it."""

    __slots__ = ("ts", "view", "decision", "considered")

    def __init__(self, ts: float, view: OrderView, decision: Decision):
        self.ts = ts
        self.view = view
        self.decision = decision
        self.considered: list[str] = []  # cluster rules already weighed for this order


class GraphStep:
    """The engine's entity graph: one :class:`~riskstream.graph.ClusterIndex`, fed every order's links."""

    def __init__(self, settings: GraphSettings, secret: bytes = b""):
        self.settings = settings
        self.secret = secret
        fuzzy = settings.fuzzy_addresses
        self.matcher = (AddressMatcher(similarity=fuzzy.similarity, guard=fuzzy.guard, retention=settings.retention)
                        if fuzzy is not None else None)
        self.kinds = tuple(settings.links)
        self._prefixes = tuple((kind, kind + ":") for kind in self.kinds)
        self.last_kept = False  # whether the last order decided was kept for escalation
        self.index = ClusterIndex(hub_accounts=settings.hub_accounts, hubs=settings.hubs, retention=settings.retention)
        self.within = settings.escalate_within
        self.flash_buys: dict[str, dict[str, dict[str, list[int]]]] = {}  # sale -> account -> sku -> [orders, units]
        self._sale_ends: dict[str, float] = {}
        self._recent: dict[str, list[_Recent]] = {}
        self._recent_width = max(1.0, self.within / 4)
        self._recent_buckets: dict[int, list[str]] = {}
        self._swept: dict[tuple[str, str], tuple[float, dict[str, None]]] = {}  # (cluster, rule) -> members escalated
        self._escalating: list["Check"] = []  # cluster rules that force an outcome

    def use_checks(self, checks: list["Check"]) -> None:
        """The engine's rules: only orders a forcing cluster rule could select are kept for escalation."""
        self._escalating = [c for c in checks if c.kind == "cluster" and c.outcome is not None]

    def _could_escalate(self, view: OrderView) -> bool:
        for check in self._escalating:
            if check.gate is None or check.gate.select(view) is not None:
                return True
        return False

    # ------------------------------------------------------------------ per order
    def nodes(self, view: OrderView) -> list[str]:
        """The order's entity nodes.  An entity value the rules cannot key (a bad IP) links nothing."""
        out = []
        entity = view.entity
        for kind, prefix in self._prefixes:
            if kind == "address":
                key = self.address_key(view)
            elif kind == "ip" or kind == "ip_prefix":
                try:
                    key = entity(kind)
                except EventError:
                    continue
            else:
                key = entity(kind)
            if key is not None:
                out.append(prefix + key)
        return out

    def address_key(self, view: OrderView) -> str | None:
        """The address node's key: the exact canonical address pseudonym or, with
        ``fuzzy_addresses``, the key of its group of near-equal addresses, so
        disguised drop addresses link too."""
        exact = view.entity("address")
        if exact is None or self.matcher is None:
            return exact
        signature = address_signature(view.event.shipping_address, self.secret)  # type: ignore[arg-type]
        if signature is None:
            return exact
        return self.matcher.match(signature, view.event.ts)

    def observe(self, view: OrderView) -> None:
        """Link the order's account, tally its flash units and put its cluster on the view."""
        event = view.event
        account, ts = event.account_id, event.ts
        index = self.index
        index.link(account, self.nodes(view), ts, event.account_created_ts)
        sale = view.sale
        if sale is not None and view.flash_items:
            buys = self.flash_buys.get(sale.id)
            if buys is None:
                buys = self.flash_buys[sale.id] = {}
                self._sale_ends[sale.id] = sale.end.timestamp()
            tally = buys.get(account)
            if tally is None:
                tally = buys[account] = {}
            for item in view.flash_items:
                got = tally.get(item.sku)
                if got is None:
                    tally[item.sku] = [1, item.quantity]
                else:
                    got[0] += 1
                    got[1] += item.quantity
        found = index.cluster_of(account)
        view.cluster = ClusterFacts(self, account, ts, found)
        if found is not None:
            view.set_person(found[0])

    def shared_kinds(self, account: str) -> set[str]:
        """Kinds of the entities ``account`` shares with another account (hubs excluded)."""
        index = self.index
        return {node[: node.find(":")] for node in index.links_of(account) if index.sharing(node) > 1}

    def escalate(self, view: OrderView, decision: Decision, checks: dict[str, "Check"], policy: "Policy",
                 decided_at: str) -> list[Decision]:
        """Remember the decision; when cluster rules forced an outcome, escalate the members' earlier orders."""
        facts = view.cluster
        ts = view.event.ts
        out: list[Decision] = []
        if facts is not None and facts.id is not None:
            triggers = [r for r in decision.reasons if r.kind == "cluster" and r.outcome is not None]
            for reason in triggers:
                out.extend(self._escalate(facts, view, decision, checks[reason.rule], reason, policy, decided_at))
        self.last_kept = self._could_escalate(view)
        if not self.last_kept:
            return out
        account = view.event.account_id
        entries = self._recent.get(account)
        if entries is None:
            entries = self._recent[account] = []
        entries.append(_Recent(ts, view, decision))
        bucket = int(ts // self._recent_width)
        accounts = self._recent_buckets.get(bucket)
        if accounts is None:
            self._recent_buckets[bucket] = [account]
        else:
            accounts.append(account)
        return out

    def _escalate(self, facts: ClusterFacts, view: OrderView, decision: Decision, check: "Check", reason: Reason,
                  policy: "Policy", decided_at: str) -> list[Decision]:
        key = (facts.id, check.id)
        swept = self._swept.get(key)
        done = swept[1] if swept is not None else {}
        self._swept[key] = (view.event.ts, done)
        cut = view.event.ts - self.within
        target = reason.outcome
        assert target is not None
        out = []
        gate = check.cluster_gate
        for member in facts.members:
            if member in done:
                continue
            done[member] = None
            if gate is not None and gate.via is not None and gate.links_via(self.shared_kinds(member)) is None:
                continue  # in the cluster only through kinds the rule does not trust
            for entry in self._recent.get(member, ()):
                if entry.ts <= cut or check.id in entry.considered:
                    continue
                entry.considered.append(check.id)
                old = entry.decision
                if old.action >= target or (check.gate is not None and check.gate.select(entry.view) is None):
                    continue
                if check.cluster_gate is not None and check.cluster_gate.per_sale and entry.view.sale is not view.sale:
                    continue
                value = dict(reason.value) if isinstance(reason.value, dict) else {"value": reason.value}
                value["escalated_by"] = decision.order_id
                added = Reason(reason.rule, reason.kind, value, reason.threshold, reason.window, reason.key,
                               reason.score, reason.outcome, reason.shadow)
                reasons = [*old.reasons, added]
                action, score = policy.action(reasons)
                new = Decision(
                    order_id=old.order_id, account_id=old.account_id, action=action, score=score, reasons=reasons,
                    ruleset_version=old.ruleset_version, event_time=old.event_time, decided_at=decided_at,
                    revision=old.revision + 1, shadow=old.shadow, shadow_action=old.shadow_action,
                    model_version=old.model_version, model_score=old.model_score,
                    cluster_id=facts.id, cluster=facts.record(member),
                )
                entry.decision = new
                out.append(new)
        return out

    # ------------------------------------------------------------------ state
    def sweep(self, watermark: float) -> None:
        """Forget escalation candidates, swept clusters and flash tallies that are out of reach."""
        cut = watermark - self.within
        width = self._recent_width
        for bucket in [b for b in self._recent_buckets if (b + 1) * width <= cut]:
            for account in self._recent_buckets.pop(bucket):
                entries = self._recent.get(account)
                if entries is None:
                    continue
                keep = [e for e in entries if e.ts > cut]
                if keep:
                    self._recent[account] = keep
                else:
                    del self._recent[account]
        for key in [k for k, (last, _) in self._swept.items() if last <= cut]:
            del self._swept[key]
        horizon = watermark - self.within - 86400.0
        for sale in [s for s, end in self._sale_ends.items() if end < horizon]:
            del self._sale_ends[sale]
            self.flash_buys.pop(sale, None)

    def state_size(self) -> dict[str, int]:
        return {**{f"graph_{k}": v for k, v in self.index.size().items()},
                "graph_recent_orders": sum(len(v) for v in self._recent.values())}
