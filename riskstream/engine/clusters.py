"""The engine's graph step: link the order's account, find its cluster.

Runs only when the rule set keeps a graph (a ``graph`` section or a
``cluster`` rule).  Per order:

1. :meth:`GraphStep.entry` names the order's entity nodes (``"kind:pseudonym"``,
   the keys the rules already compute) and lets a
   :class:`~riskstream.graph.LinkSpotter` pass on only the links that are new
   or due a refresh: the low-volume stream the one graph instance is fed;
2. :meth:`GraphStep.apply` links them in the :class:`~riskstream.graph.ClusterIndex`
   and tallies the order's flash units per account, SKU and sale;
3. the rules see the cluster: in one process as live :class:`ClusterFacts`
   (:meth:`GraphStep.observe`; costly parts computed on demand), in the
   stream as a :class:`ClusterSnapshot` of the same values, computed by the
   graph stage at the order's place in event time.  ``person`` becomes the
   cluster id.

After the decision, cluster rules that forced an outcome escalate the earlier
orders of the cluster's members (:mod:`.escalation`).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, Iterable

from ..entities.fuzzy import AddressSignature, address_signature, match_address, new_address_matcher
from ..events import EventError
from ..graph import LinkSpotter, new_cluster_index
from ..rules.model import GraphSettings
from .escalation import Escalator
from .order_view import OrderView, SaleIndex

MAX_LINKS_IN_RECORD = 8
_MISS = object()


class _Pending:
    """An address whose signature is computed only if the matcher needs it (one process)."""

    __slots__ = ("key", "raw")

    def __init__(self, key: str, raw: Any):
        self.key = key  # the address's pseudonym, as the rules key it
        self.raw = raw


class ClusterFacts:
    """What the rules see of an order's cluster; the costly parts are computed on demand."""

    __slots__ = ("id", "size", "account", "ts", "_step", "_new_share", "_flash")

    def __init__(self, step: "GraphStep", account: str, ts: float, found: tuple[str, int] | None):
        self._step = step
        self.account = account
        self.ts = ts
        if found is None:
            self.id: str | None = None
            self.size = 1
        else:
            self.id, self.size = found
        self._new_share: float | None = None
        self._flash: tuple[int, int] | None = None

    def new_share(self, view: OrderView) -> float:
        """Share of members younger than ``graph.new_account_age`` at this order."""
        if self._new_share is None:
            self._new_share = self._step.new_share(self.account, self.ts, view.event.account_created_ts, self.size)
        return self._new_share

    def flash(self, view: OrderView) -> tuple[int, int]:
        """``(units, orders)`` of the order's flash SKU bought by the cluster in this sale (max over its SKUs)."""
        if self._flash is None:
            if view.sale is None or not view.flash_items:
                self._flash = (0, 0)
            else:
                self._flash = self._step.flash_of(self.account, self.id, view.sale.id, [i.sku for i in view.flash_items])
        return self._flash

    def shared_kinds(self) -> set[str]:
        """Kinds of the entities the account shares with another member."""
        return self._step.shared_kinds(self.account)

    def kinds_by_member(self) -> dict[str, list[str]]:
        """Each member, oldest first, with the kinds of the entities it shares with another account (sorted)."""
        return self._step.kinds_by_member(self.account)

    def record(self) -> dict[str, Any]:
        """The decision record's ``cluster``: its id, size and the links that put the account in it."""
        return {"id": self.id, "size": self.size, "links": self._step.links_record(self.account)}


class ClusterSnapshot:
    """An order's cluster as the graph stage saw it, sent to the decide stage: the same
    questions as :class:`ClusterFacts`, answered from values computed at the order's
    place in event time (see :meth:`GraphStep.snapshot`)."""

    __slots__ = ("id", "size", "account", "ts", "_new_share", "_flash", "_kinds", "_links", "_members")

    def __init__(self, account: str, ts: float, data: list):
        self.account = account
        self.ts = ts
        self.id, self.size, self._new_share, units, orders, kinds, self._links, details = data
        self._flash = (units, orders)
        self._kinds = set(kinds)
        self._members: dict[str, list[str]] | None = None if details is None else dict(details)

    def new_share(self, view: OrderView) -> float:
        return self._new_share

    def flash(self, view: OrderView) -> tuple[int, int]:
        return self._flash

    def shared_kinds(self) -> set[str]:
        return self._kinds

    def kinds_by_member(self) -> dict[str, list[str]]:
        if self._members is None:
            raise LookupError("the graph stage sent no members for this order (no forcing cluster rule selects it)")
        return self._members

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "size": self.size, "links": self._links}


class GraphStep:
    """The engine's entity graph: one :class:`~riskstream.graph.ClusterIndex`, fed every order's links.

    An order's part in the graph is split so the stream can run it where the
    data lives: :meth:`entry` (where the order is read: its nodes, the links
    the :class:`~riskstream.graph.LinkSpotter` lets through, its flash items)
    and :meth:`apply` (in the one graph instance, in event-time order).  In
    one process :meth:`observe` does both and puts live :class:`ClusterFacts`
    on the view; the stream's graph stage sends a :meth:`snapshot` instead.
    """

    def __init__(self, settings: GraphSettings, sales: SaleIndex, secret: bytes = b""):
        self.settings = settings
        self.sales = sales  # the engine's: an order's sale and its end
        self.secret = secret
        fuzzy = settings.fuzzy_addresses
        self.matcher = (new_address_matcher(similarity=fuzzy.similarity, guard=fuzzy.guard, retention=settings.retention)
                        if fuzzy is not None else None)
        self.kinds = tuple(settings.links)
        # (kind, node prefix, an IP (a bad one links nothing), an address matched fuzzily (by signature))
        self._prefixes = tuple((kind, kind + ":", kind in ("ip", "ip_prefix"), kind == "address" and self.matcher is not None)
                               for kind in self.kinds)
        self.index = new_cluster_index(hub_accounts=settings.hub_accounts, hubs=settings.hubs, retention=settings.retention)
        # Both drivers take only new links (and refreshes), so links age alike offline and online:
        # the stream's links come through this spotter; in one process (observe) the index
        # spots them itself, the same way (ClusterIndex.spot_links).
        self.spotter = LinkSpotter(settings.retention)
        self.within = settings.escalate_within
        self.flash_buys: dict[str, dict[str, dict[str, list[int]]]] = {}  # sale -> account -> sku -> [orders, units]
        self._sale_ends: dict[str, float] = {}  # sales with flash tallies -> their end
        # (cluster id, sale) -> [lineage serial, members counted, {sku: [units, orders]}]: see flash_of
        self._sums: dict[tuple[str, str], list] = {}
        self.escalator: Escalator | None = None  # set by the engine, which knows the rules
        self._kinds: dict[str, tuple[int, set[str], list[str]]] = {}  # account -> (stamp, shared kinds, sorted)

    # ------------------------------------------------------------------ per order
    def nodes(self, view: OrderView, lazy: bool = False) -> tuple[list[str], AddressSignature | _Pending | None]:
        """The order's entity nodes, and with ``fuzzy_addresses`` its address signature
        (the address node then comes from :meth:`apply`, which matches signatures in order).
        With ``lazy`` (in one process) the signature is left for :meth:`_link` to compute,
        only when the matcher does not hold the address already.
        An entity value the rules cannot key (a bad IP) links nothing."""
        out = []
        signature = None
        known = view.known_entities()  # keyed already by the rules, mostly
        for kind, prefix, ip, fuzzy in self._prefixes:
            key = known.get(kind, _MISS)
            if key is _MISS:
                if ip:
                    try:
                        key = view.entity(kind)
                    except EventError:  # an unreadable IP links nothing
                        continue
                else:
                    key = view.entity(kind)
            if key is None:
                continue
            if fuzzy:
                if lazy:
                    signature = _Pending(key, view.event.shipping_address)
                    continue
                sig = address_signature(view.event.shipping_address, self.secret, key)  # type: ignore[arg-type]
                if sig is not None:
                    signature = sig
                    continue
            out.append(prefix + key)
        return out, signature

    def entry(self, view: OrderView, trigger: bool | None = None, spot: bool = True) -> list:
        """What the graph needs of an order, as plain data: ``[order id, account, ts,
        born, new links, address signature, flash, trigger]``.  ``flash`` is
        ``[sale, sale end, [sku...], [units...]]`` or None; ``trigger`` says a forcing
        cluster rule could select the order (its snapshot then names the members).
        With ``spot=False`` every link goes, for an index that spots them itself."""
        event = view.event
        nodes, sig = self.nodes(view)
        signature = None if sig is None else sig.to_data()  # plain data, for the stream
        spotted = self.spotter.spot(event.account_id, nodes, event.ts) if spot else nodes
        sale = view.sale
        flash = None
        if sale is not None and view.flash_items:
            items = view.flash_items
            flash = [sale.id, self.sales.end[sale.id], [i.sku for i in items], [i.quantity for i in items]]
        if trigger is None:
            trigger = self.escalator is not None and self.escalator.could_escalate(view)
        return [event.order_id, event.account_id, event.ts, event.account_created_ts, spotted, signature, flash, trigger]

    def apply(self, entry: list) -> tuple[str, int] | None:
        """Link an order's account and tally its flash units; its cluster ``(id, size)``, or None when alone."""
        _, account, ts, born, spotted, signature, flash, _ = entry
        found = self._link(account, ts, born, spotted, signature)
        if flash is not None:
            sale, end, skus, units = flash
            self._tally(account, found, sale, end, zip(skus, units))
        return found

    def observe(self, view: OrderView, frozen: bool = False) -> None:
        """Link the order's account, tally its flash units and put its cluster on the view:
        live facts, or with ``frozen`` a snapshot, for an order concluded after later ones are counted."""
        event = view.event
        account = event.account_id
        if not self.index.refresh:  # one process: the index spots new links itself
            self.index.spot_links(self.spotter.refresh)
        if frozen:
            entry = self.entry(view, spot=False)
            found = self.apply(entry)
            view.cluster = ClusterSnapshot(account, event.ts, self.snapshot(entry, found))
        else:  # entry() and apply() without the entry between them
            ts = event.ts
            nodes, signature = self.nodes(view, lazy=True)
            found = self._link(account, ts, event.account_created_ts, nodes, signature)
            sale = view.sale
            if sale is not None and view.flash_items:
                self._tally(account, found, sale.id, self.sales.end[sale.id],
                            [(i.sku, i.quantity) for i in view.flash_items])
            view.cluster = ClusterFacts(self, account, ts, found)
        if found is not None:
            view.set_person(found[0])

    def _link(self, account: str, ts: float, born: float | None, spotted: list[str],
              signature: AddressSignature | list | None) -> tuple[str, int] | None:
        """Link ``account`` to the spotted nodes (and its matched address, a signature or
        its plain data); its cluster, or None."""
        if signature is not None:
            matcher = self.matcher
            assert matcher is not None
            if type(signature) is _Pending:  # a repeated address costs a lookup, a new one its signature
                key = match_address(matcher, signature.raw, self.secret, signature.key, ts)  # type: ignore[union-attr]
            else:
                if type(signature) is list:
                    signature = AddressSignature.from_data(signature)
                key = matcher.match(signature, ts)  # type: ignore[arg-type]
            node = ["address:" + key]
            spotted = spotted + (node if self.index.refresh else self.spotter.spot(account, node, ts))
        index = self.index
        index.link(account, spotted, ts, born)
        return index.cluster_of(account)

    def _tally(self, account: str, found: tuple[str, int] | None, sale: str, end: float,
               items: Iterable[tuple[str, int]]) -> None:
        """Add an order's flash ``(sku, units)`` to its account's buys in ``sale``."""
        buys = self.flash_buys.get(sale)
        if buys is None:
            buys = self.flash_buys[sale] = {}
            self._sale_ends[sale] = end
        tally = buys.get(account)
        if tally is None:
            tally = buys[account] = {}
        sums = None
        if found is not None:  # the cluster's kept sums (see flash_of) take the buy of a member they count
            kept = self._sums.get((found[0], sale))
            if kept is not None and account in kept[1] and kept[0] == self.index.serial(account):
                sums = kept[2]
        for sku, quantity in items:
            got = tally.get(sku)
            if got is None:
                tally[sku] = [1, quantity]
            else:
                got[0] += 1
                got[1] += quantity
            if sums is not None:
                total = sums.get(sku)
                if total is not None:
                    total[0] += quantity
                    total[1] += 1

    def snapshot(self, entry: list, found: tuple[str, int] | None) -> list:
        """The order's cluster as plain data for the decide stage (see :class:`ClusterSnapshot`):
        ``[id, size, new share, flash units, flash orders, shared kinds, links, members]``;
        members (each with the kinds it shares) only when a forcing rule could select the order."""
        _, account, ts, born, _, _, flash, trigger = entry
        cluster_id, size = found if found is not None else (None, 1)
        share = self.new_share(account, ts, born, size)
        units, orders = self.flash_of(account, cluster_id, flash[0], flash[2]) if flash is not None else (0, 0)
        if cluster_id is None:
            return [None, 1, share, units, orders, [], [], None]
        details = list(self.kinds_by_member(account).items()) if trigger else None
        kinds = self._known_kinds(account)[2]
        return [cluster_id, size, share, units, orders, kinds, self.links_record(account), details]

    def new_share(self, account: str, ts: float, born: float | None, size: int) -> float:
        """Share of the cluster's members younger than ``graph.new_account_age`` at ``ts``
        (alone, the account's own age decides)."""
        young = self.settings.new_account_age
        if size == 1:
            return 1.0 if born is not None and ts - born < young else 0.0
        since = ts - young
        borns = self.index.members_born(account)  # sorted
        return (len(borns) - bisect_right(borns, since)) / size

    def flash_of(self, account: str, cluster_id: str | None, sale: str, skus: list[str]) -> tuple[int, int]:
        """``(units, orders)`` of the SKUs bought in ``sale`` by ``account``'s cluster (max over the SKUs).

        A ring's orders ask this of the same cluster over and over while it
        grows, so each cluster's sums per SKU are kept with the members they
        count: :meth:`apply` adds a counted member's new buys, members who
        joined since (:meth:`ClusterIndex.lineage`) are added when next asked,
        and a rebuild of the cluster starts the count again."""
        if cluster_id is None:
            return self.cluster_flash([account], sale, skus)
        serial, size = self.index.lineage(account)
        key = (cluster_id, sale)
        entry = self._sums.get(key)
        if entry is None or entry[0] != serial:
            if len(self._sums) >= 100_000:
                self._sums.clear()
            entry = self._sums[key] = [serial, set(), {}]
        counted, sums = entry[1], entry[2]
        if len(counted) < size:  # members who joined since: add their buys
            joined = self.index.members_from(account, len(counted))
            counted.update(joined)
            if sums:
                buys = self.flash_buys.get(sale, {})
                for member in joined:
                    tally = buys.get(member)
                    if tally is not None:
                        for sku, total in sums.items():
                            got = tally.get(sku)
                            if got is not None:
                                total[0] += got[1]
                                total[1] += got[0]
        units = orders = 0
        for sku in skus:
            got = sums.get(sku)
            if got is None:
                got = sums[sku] = list(self.cluster_flash(self.index.members(account), sale, [sku]))
            if got[0] > units:
                units = got[0]
            if got[1] > orders:
                orders = got[1]
        return units, orders

    def cluster_flash(self, members: list[str], sale: str, skus: list[str]) -> tuple[int, int]:
        """``(units, orders)`` of the SKUs bought by ``members`` in ``sale`` (max over the SKUs)."""
        buys = self.flash_buys.get(sale, {})
        units = orders = 0
        for sku in skus:
            u = o = 0
            for member in members:
                tally = buys.get(member)
                if tally is not None:
                    got = tally.get(sku)
                    if got is not None:
                        o += got[0]
                        u += got[1]
            units, orders = max(units, u), max(orders, o)
        return units, orders

    def shared_kinds(self, account: str) -> set[str]:
        """Kinds of the entities ``account`` shares with another account (hubs excluded).

        Asked for every member of a ring each time one of its orders is frozen,
        so answers are kept until the account's stamp changes (:meth:`ClusterIndex.stamp`)."""
        return self._known_kinds(account)[1]

    def kinds_by_member(self, account: str) -> dict[str, list[str]]:
        """Each member of ``account``'s cluster, oldest first, with :meth:`shared_kinds` sorted:
        what a trigger names (:meth:`ClusterIndex.kinds_by_member`; shared, do not modify it)."""
        return self.index.kinds_by_member(account)

    def _known_kinds(self, account: str) -> tuple[int, set[str], list[str]]:
        """``(stamp, shared kinds, the same sorted)`` of ``account``, kept while its stamp holds."""
        stamp = self.index.stamp(account)
        known = self._kinds.get(account)
        if known is None or known[0] != stamp:
            kinds = self.index.shared_kinds(account)
            if len(self._kinds) >= 100_000:
                self._kinds.clear()
            known = self._kinds[account] = (stamp, kinds, sorted(kinds))
        return known

    def links_record(self, account: str) -> list[dict[str, Any]]:
        """The shared entities that put ``account`` in its cluster, for decision records."""
        index = self.index
        links = []
        for node in index.links_of(account):
            sharing = index.sharing(node)
            if sharing > 1:
                kind, _, key = node.partition(":")
                links.append({"kind": kind, "entity": key, "accounts": sharing})
                if len(links) == MAX_LINKS_IN_RECORD:
                    break
        return links

    # ------------------------------------------------------------------ state
    def sweep(self, watermark: float) -> None:
        """Forget escalation candidates and flash tallies that are out of reach."""
        if self.escalator is not None:
            self.escalator.sweep(watermark)
        horizon = watermark - self.within - 86400.0
        for sale in [s for s, end in self._sale_ends.items() if end < horizon]:
            del self._sale_ends[sale]
            self.flash_buys.pop(sale, None)
            for key in [k for k in self._sums if k[1] == sale]:
                del self._sums[key]

    def state_size(self) -> dict[str, int]:
        return {**{f"graph_{k}": v for k, v in self.index.size().items()},
                "graph_recent_orders": self.escalator.size() if self.escalator is not None else 0}
