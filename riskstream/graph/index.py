"""Linked accounts: an incremental union-find over account-entity links.

Accounts are linked through the entities their orders use: an IP, a device,
a phone, a payment fingerprint, a shipping address.  Accounts sharing an
entity are in one cluster, transitively.  Entity nodes are plain strings
``"kind:pseudonym"`` (see :func:`~riskstream.graph.links.entity_node`), so the
state holds pseudonyms only, never raw values, and everything it exchanges is
plain strings, floats and tuples.

* **Loners cost no account.**  Most accounts never share anything, so an
  entity linked to one account holds that link itself, as a tuple
  ``(account, last link time, born, first link time)``; an account gets its
  place in the union-find (:class:`Member`, holding its links to shared
  entities only) when one of its entities is shared, and leaves it when it
  shares nothing any more.
* **Hubs.**  An entity linked to more accounts than its kind's limit within
  the retention (a carrier NAT, a campus network, a pickup locker) becomes a
  hub: it is recorded (first and last seen, links counted) but never merges
  clusters.  The clusters it glued before it crossed the limit are rebuilt
  without it, and its per-account links are forgotten, so a hub costs O(1)
  memory however many accounts use it (an index that spots its own links,
  see :meth:`ClusterIndex.spot_links`, keeps the accounts that used it within
  the retention instead, as a spotter would).
* **Ageing.**  A link not refreshed for ``retention`` seconds of event time is
  dropped.  A union-find cannot delete, so the components that lost links are
  rebuilt from their remaining live links (only those components: most
  accounts are alone and simply leave).  Sweeps run every ``sweep_every``
  seconds of event time.
* **Determinism.**  Only dicts and lists (insertion ordered) are iterated,
  never sets of strings, so the same ordered input gives the same clusters
  and ids in every process.  A cluster's id comes from its *founder*: the
  member seen first (ties broken by account id).  A cluster keeps its id as
  it grows; when clusters merge, the older founder's id wins; when one splits,
  the part holding the founder keeps the id.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from .. import native
from ..timebuckets import TimeBuckets
from .members import Hub, Member, cluster_id_of, find_root

#: Changes reported by :meth:`ClusterIndex.link`, as plain tuples:
#: ``("merge", cluster_id, size)`` - the account's cluster grew to ``size``;
#: ``("hub", node, accounts)`` - ``node`` became a hub linked to ``accounts`` accounts.
Change = tuple


class ClusterIndex:
    """Clusters of accounts linked through shared entities, kept incrementally.

    ``hub_accounts`` is how many accounts an entity may link before it is a
    hub; ``hubs`` overrides it per entity kind (``{"ip": 30}``).
    ``retention`` (seconds of event time) is how long a link lives without
    being refreshed.

    The stream feeds the index only the links a :class:`~riskstream.graph.LinkSpotter`
    passed on.  In one process the index spots them itself instead (see
    :meth:`spot_links`): it holds the same links with the same times, so a
    second memory of them would only repeat it.

    >>> index = ClusterIndex(hub_accounts=3, retention=3600)
    >>> index.link("a1", ["device:d1"], 0.0)
    []
    >>> index.link("a2", ["device:d1", "phone:p9"], 1.0)
    [('merge', 'cl-eeb41831ff1', 2)]
    >>> index.members("a1")
    ['a1', 'a2']
    """

    def __init__(self, *, hub_accounts: int = 50, hubs: Mapping[str, int] | None = None,
                 retention: float = 7 * 86400.0, sweep_every: float | None = None):
        if hub_accounts < 2:
            raise ValueError("hub_accounts must be at least 2")
        self.hub_accounts = hub_accounts
        self.hub_limits = dict(hubs or {})
        self.retention = float(retention)
        self.sweep_every = float(sweep_every) if sweep_every is not None else max(60.0, self.retention / 8)
        self.watermark = float("-inf")
        self.hubs: dict[str, Hub] = {}
        self.rebuilds = 0  # components rebuilt (ageing and new hubs), for reports
        self._accounts: dict[str, Member] = {}
        # non-hub entity node -> (account, last link, born, first link) when linked to one account,
        # else {account: None} in link order
        self._entities: dict[str, tuple | dict[str, None]] = {}
        self._linked: TimeBuckets[Member] = TimeBuckets(max(1.0, self.retention / 8))  # accounts by link time
        self._solo: TimeBuckets[list[str]] = TimeBuckets(self._linked.width)  # nodes linked to one account
        self._next_sweep = float("-inf")
        self._ids: dict[str, str] = {}
        self._stamps = 0
        self._serials = 0
        self.refresh = 0.0  # > 0: links are spotted here (see spot_links)
        self.passed = 0  # links taken: new ones and refreshes

    # ------------------------------------------------------------------ updates
    def spot_links(self, refresh: float) -> None:
        """Take every link of an order from now on, and keep of them exactly what a
        :class:`~riskstream.graph.LinkSpotter` with this ``refresh`` would pass on:
        a link new to the account, or known and at least ``refresh`` older than the
        order.  Known links are held here already with their last time (hubs keep
        their accounts' times for this), and they age out by the same sweeps.
        Call it before the first link."""
        if self._accounts or self._entities or self.hubs:
            raise RuntimeError("spot_links() must be called before any link")
        if refresh <= 0:
            raise ValueError("refresh must be positive")
        self.refresh = float(refresh)

    def link(self, account: str, nodes: Iterable[str], ts: float, born: float | None = None) -> list[Change]:
        """Link ``account`` to entity ``nodes`` at event time ``ts``.

        Known links are refreshed (their age restarts), so the caller may pass
        every link of an order or only the new ones a
        :class:`~riskstream.graph.LinkSpotter` let through (with :meth:`spot_links`,
        a known link is refreshed only when ``refresh`` old).  ``born`` is the
        account's creation time (epoch seconds), if known.
        Returns the changes this made (see :data:`Change`).
        """
        changes: list[Change] = []
        if ts > self.watermark:  # advance(), inlined: it runs for nearly every order
            self.watermark = ts
            if ts >= self._next_sweep:
                self.sweep()
        accounts = self._accounts
        me = accounts.get(account)  # None for an account that shares nothing (yet)
        shared = False  # a link to a shared entity was made or refreshed
        restamp = False  # it shares an entity anew: the kinds it shares may change
        solo = False  # a link to an entity of its own was made or refreshed
        if nodes.__class__ is not list:
            nodes = list(nodes)  # filed below
        entities, hubs = self._entities, self.hubs
        refresh = self.refresh  # 0: every link given is taken
        passed = 0
        for node in nodes:
            hub = hubs.get(node)
            if hub is not None:
                if refresh:
                    seen = hub.seen.get(account)  # type: ignore[union-attr]
                    if seen is not None and ts - seen < refresh:
                        continue
                    hub.seen[account] = ts  # type: ignore[index]
                passed += 1
                hub.links += 1
                if ts > hub.last_seen:
                    hub.last_seen = ts
                continue
            got = entities.get(node)
            if got is None:  # most entities are never shared: the link stays on the entity
                entities[node] = (account, ts, born, ts)
                solo = True
                passed += 1
                continue
            if got.__class__ is tuple:
                owner = got[0]
                if owner == account:
                    if ts > got[1] and ts - got[1] >= refresh:  # a known link, refreshed
                        entities[node] = (account, ts, got[2] if born is None else born, got[3])
                        solo = True
                        passed += 1
                    continue
                # shared from now on: the owner takes its place in the union-find
                other = accounts.get(owner)
                if other is None:
                    other = accounts[owner] = Member(owner, got[3], got[2])
                other.links[node] = got[1]
                self._file(other, got[1])
                self._restamp(other)
                sharers = entities[node] = {owner: None, account: None}
            elif account in got:  # a known shared link, refreshed
                links = me.links  # type: ignore[union-attr]
                seen = links[node]
                if ts > seen and ts - seen >= refresh:
                    links[node] = ts
                    shared = True
                    passed += 1
                continue
            else:
                owner = next(iter(got))
                got[account] = None
                sharers = got
            shared = restamp = True
            passed += 1
            if me is None:
                me = accounts[account] = Member(account, ts, born)
            me.links[node] = ts
            if len(sharers) > self.hub_limit(node):
                changes.append(("hub", node, len(sharers)))
                self._make_hub(node, ts)
                me = accounts.get(account)
                continue
            root = self._union(me, accounts[owner])
            if root is not None:
                changes.append(("merge", self._id_of(root), len(root.members)))  # type: ignore[arg-type]
        if me is not None:
            if shared:
                self._file(me, ts)
            if restamp:
                self._restamp(me)
        if solo:
            self._solo.file_at(nodes, ts)  # type: ignore[arg-type]
        self.passed += passed
        return changes

    def _file(self, me: Member, ts: float) -> None:
        """File ``me`` for the sweep under the bucket of a link it made or refreshed at ``ts``."""
        bucket = self._linked.bucket(ts)
        if bucket != me.bucket:
            me.bucket = bucket
            self._linked.file(me, bucket)

    def hub_limit(self, node: str) -> int:
        """Accounts an entity of this node's kind may link before it is a hub."""
        if self.hub_limits:
            return self.hub_limits.get(node[: node.find(":")], self.hub_accounts)
        return self.hub_accounts

    def advance(self, ts: float) -> None:
        """Move event time to ``ts``; ages links out when a sweep is due."""
        if ts > self.watermark:
            self.watermark = ts
            if ts >= self._next_sweep:
                self.sweep()

    def sweep(self) -> int:
        """Drop links and hubs older than the retention; rebuild what they held together.

        Every link is filed under the time bucket it was made (or refreshed)
        in: with its account when the entity is shared, as the entity itself
        otherwise, so an expired bucket lists everything that may hold an
        expired link.  Returns how many links were dropped.
        """
        cut = self.watermark - self.retention
        dropped = 0
        affected: list[Member] = []
        entities, accounts = self._entities, self._accounts
        for _, linked in self._linked.expired(cut):
            for me in linked:
                if accounts.get(me.id) is not me:
                    continue  # left the graph already
                stale = [node for node, seen in me.links.items() if seen <= cut]
                if not stale:
                    continue
                self._restamp(me)
                for node in stale:
                    del me.links[node]
                    sharers = entities[node]
                    sharers.pop(me.id)  # type: ignore[union-attr]
                    if len(sharers) == 1:  # the last account keeps it as an entity of its own
                        last = next(iter(sharers))
                        other = accounts[last]
                        seen = other.links.pop(node)
                        self._restamp(other)
                        if seen <= cut:
                            del entities[node]
                            dropped += 1
                        else:
                            entities[node] = (last, seen, other.born, other.first)
                            self._solo.file_at([node], seen)
                    elif not sharers:
                        del entities[node]
                dropped += len(stale)
                affected.append(find_root(me))
        if affected:
            self._rebuild(affected)
        for _, filed in self._solo.expired(cut):
            for nodes in filed:
                for node in nodes:
                    got = entities.get(node)
                    if got.__class__ is tuple and got[1] <= cut:  # type: ignore[index]
                        del entities[node]
                        dropped += 1
        for node in [n for n, hub in self.hubs.items() if hub.last_seen <= cut]:
            del self.hubs[node]
        if self.refresh:
            for hub in self.hubs.values():
                seen = hub.seen
                for account in [a for a, t in seen.items() if t <= cut]:  # type: ignore[union-attr]
                    del seen[account]  # type: ignore[index]
        self._next_sweep = self.watermark + self.sweep_every
        return dropped

    # ------------------------------------------------------------------ queries
    def cluster_of(self, account: str) -> tuple[str, int] | None:
        """``(cluster id, size)`` of the account's cluster, or None when it is alone."""
        me = self._accounts.get(account)
        if me is None:
            return None
        root = find_root(me)
        size = len(root.members)  # type: ignore[arg-type]
        if size == 1:
            return None
        return self._id_of(root), size

    def members(self, account: str) -> list[str]:
        """The accounts of ``account``'s cluster (just itself when alone or unknown), oldest first.
        The list is shared until the cluster changes: do not modify it."""
        me = self._accounts.get(account)
        if me is None:
            return [account]
        root = find_root(me)
        ids = root.ids
        if ids is None:
            ids = root.ids = [m.id for m in root.members]  # type: ignore[union-attr]
        return ids

    def lineage(self, account: str) -> tuple[int, int]:
        """``(serial, size)`` of ``account``'s cluster.  A root's member list only grows
        (a union appends the absorbed members) until a rebuild starts it again, and the
        serial names one such run: while it holds, the members counted at some size are
        the first ``size`` of :meth:`members`, and :meth:`members_from` gives the rest."""
        me = self._accounts.get(account)
        if me is None:
            return 0, 1
        root = find_root(me)
        if not root.serial:
            self._serials += 1
            root.serial = self._serials
        return root.serial, len(root.members)  # type: ignore[arg-type]

    def serial(self, account: str) -> int:
        """The serial :meth:`lineage` gave ``account``'s cluster (0 when it gave none since the last rebuild)."""
        me = self._accounts.get(account)
        return find_root(me).serial if me is not None else 0

    def members_from(self, account: str, start: int) -> list[str]:
        """The accounts of ``account``'s cluster from position ``start`` of :meth:`members` on."""
        me = self._accounts.get(account)
        if me is None:
            return [account][start:]
        return [m.id for m in find_root(me).members[start:]]  # type: ignore[index]

    def links_of(self, account: str) -> dict[str, float]:
        """The account's live links to entities it shares: entity node -> last link time."""
        me = self._accounts.get(account)
        return dict(me.links) if me is not None else {}

    def stamp(self, account: str) -> int:
        """A number that changes whenever what :meth:`shared_kinds` answers for ``account`` may change."""
        me = self._accounts.get(account)
        return me.stamp if me is not None else 0

    def shared_kinds(self, account: str) -> set[str]:
        """Kinds of the non-hub entities ``account`` shares with another account (``"device"``...)."""
        me = self._accounts.get(account)
        return self._shared_kinds(me) if me is not None else set()

    def _shared_kinds(self, me: Member) -> set[str]:
        return {node[: node.find(":")] for node in me.links}  # its links are to shared entities only

    def kinds_by_member(self, account: str) -> dict[str, list[str]]:
        """Each member of ``account``'s cluster, oldest first, with its :meth:`shared_kinds` sorted.

        A ring asks this each time one of its orders is frozen, while it
        grows by a member or two between asks, so the answer is kept on the
        root: a union marks the members it brings, a restamp marks its
        member, and only marked members are worked out again, into a new
        dict.  The same dict is returned while the cluster is unchanged (an
        unchanged ring is recognised by identity); do not modify it."""
        me = self._accounts.get(account)
        if me is None:
            return {account: []}
        root = find_root(me)
        kinds, stale = root.kinds, root.stale
        if kinds is None or stale is None:
            stale = root.stale = []
            kinds = root.kinds = {m.id: sorted(self._shared_kinds(m)) for m in root.members}  # type: ignore[union-attr]
        elif stale:
            root.stale = []
            kinds = root.kinds = dict(kinds)  # earlier answers stay as they were
            for member in stale:  # members a union brought go last, in member order
                kinds[member.id] = sorted(self._shared_kinds(member))
        return kinds

    def accounts_of(self, node: str) -> list[str]:
        """Accounts linked to a non-hub entity, in link order."""
        got = self._entities.get(node)
        if got is None:
            return []
        return [got[0]] if got.__class__ is tuple else list(got)  # type: ignore[index]

    def sharing(self, node: str) -> int:
        """How many accounts share a non-hub entity (0 for unknown entities and hubs)."""
        got = self._entities.get(node)
        if got is None:
            return 0
        return 1 if got.__class__ is tuple else len(got)

    def born(self, account: str) -> float | None:
        """The creation time of an account in a cluster, if known (None for loners)."""
        me = self._accounts.get(account)
        return me.born if me is not None else None

    def members_born(self, account: str) -> list[float]:
        """The known creation times of the members of ``account``'s cluster, sorted
        (shared until the cluster changes: do not modify it)."""
        me = self._accounts.get(account)
        if me is None:
            return []
        root = find_root(me)
        borns = root.borns
        if borns is None:
            borns = root.borns = sorted(m.born for m in root.members if m.born is not None)  # type: ignore[union-attr]
        return borns

    def first_seen(self, account: str) -> float | None:
        """When an account in a cluster was first linked to an entity it shares (None for loners)."""
        me = self._accounts.get(account)
        return me.first if me is not None else None

    def clusters(self, min_size: int = 2) -> list[tuple[str, list[str]]]:
        """Every cluster of at least ``min_size`` accounts: ``(id, members)``, largest first."""
        out = [(self._id_of(me), [m.id for m in me.members]) for me in self._accounts.values()
               if me.members is not None and len(me.members) >= min_size]
        out.sort(key=lambda c: (-len(c[1]), c[0]))
        return out

    def find_cluster(self, cluster_id: str) -> list[str] | None:
        """Members of the cluster with this id, or None."""
        for me in self._accounts.values():
            if me.members is not None and len(me.members) > 1 and self._id_of(me) == cluster_id:
                return [m.id for m in me.members]
        return None

    def size(self) -> dict[str, int]:
        """Accounts, entities, links and hubs held, for memory reports."""
        return {
            "accounts": len(self._accounts),
            "entities": len(self._entities),
            "links": sum(len(me.links) for me in self._accounts.values())
            + sum(1 for got in self._entities.values() if got.__class__ is tuple),
            "hubs": len(self.hubs),
            "clusters": sum(1 for me in self._accounts.values() if me.members is not None and len(me.members) > 1),
            "rebuilds": self.rebuilds,
        }

    # ------------------------------------------------------------------ internals
    def _union(self, a: Member, b: Member) -> Member | None:
        """Merge the clusters of ``a`` and ``b``; the new root, or None if already one."""
        ra, rb = find_root(a), find_root(b)
        if ra is rb:
            return None
        ma, mb = ra.members, rb.members
        assert ma is not None and mb is not None and ra.founder is not None and rb.founder is not None
        if len(ma) < len(mb) or (len(ma) == len(mb) and rb.founder < ra.founder):
            ra, rb, ma, mb = rb, ra, mb, ma
        rb.parent = ra
        ma.extend(mb)
        if ra.stale is not None:  # kinds_by_member was asked of ra: its next answer takes rb's members
            ra.stale.extend(mb)
        rb.kinds = rb.stale = None
        if rb.founder < ra.founder:  # type: ignore[operator]
            ra.founder = rb.founder
        rb.members = rb.founder = rb.ids = rb.borns = None
        self._changed(ra)
        return ra

    def _changed(self, root: Member) -> None:
        """``root``'s members changed: the member lists are listed again."""
        root.ids = root.borns = None

    def _id_of(self, root: Member) -> str:
        founder = root.founder[1]  # type: ignore[index]
        cid = self._ids.get(founder)
        if cid is None:
            if len(self._ids) >= 100_000:
                self._ids.clear()
            cid = self._ids[founder] = cluster_id_of(founder)
        return cid

    def _make_hub(self, node: str, ts: float) -> None:
        """``node`` crossed its kind's limit: record it as a hub and undo the merges it made."""
        accounts = self._entities.pop(node)
        assert isinstance(accounts, dict)
        seen: dict[str, float] = {}
        roots = []
        for account in accounts:
            me = self._accounts[account]
            seen[account] = me.links.pop(node, ts)
            self._restamp(me)
            roots.append(find_root(me))
        self.hubs[node] = Hub(node, min(ts, *seen.values()), ts, len(accounts), len(accounts),
                              seen if self.refresh else None)
        self._rebuild(roots)

    def _rebuild(self, roots: list[Member]) -> None:
        """Rebuild the components of ``roots`` from their live links (union-find has no delete)."""
        members: list[Member] = []
        for root in dict.fromkeys(roots):
            if root.members is not None:
                members.extend(root.members)
        live = []
        for me in members:
            if not me.links:  # no live links left: it leaves the graph
                del self._accounts[me.id]
                me.members = me.founder = me.ids = me.borns = me.kinds = me.stale = None
                continue
            me.parent = me
            me.members = [me]
            me.founder = (me.first, me.id)
            me.kinds = me.stale = None
            me.serial = 0
            self._changed(me)
            live.append(me)
        entities, accounts = self._entities, self._accounts
        for me in live:
            for node in me.links:  # all to shared entities
                first = next(iter(entities[node]))  # type: ignore[arg-type]
                if first != me.id:
                    self._union(me, accounts[first])
        self.rebuilds += 1

    def _restamp(self, me: Member) -> None:
        self._stamps += 1
        me.stamp = self._stamps
        stale = find_root(me).stale
        if stale is not None:
            stale.append(me)


def new_cluster_index(*, hub_accounts: int = 50, hubs: Mapping[str, int] | None = None,
                      retention: float = 7 * 86400.0, sweep_every: float | None = None) -> ClusterIndex:
    """A :class:`ClusterIndex`: the native core's twin when it is in use (see
    :mod:`riskstream.native`), else the pure-Python one.  Both give the same clusters."""
    core = native.core()
    if core is None:
        return ClusterIndex(hub_accounts=hub_accounts, hubs=hubs, retention=retention, sweep_every=sweep_every)
    return core.ClusterIndex(cluster_id_of, Hub, hub_accounts=hub_accounts, hubs=dict(hubs or {}),
                             retention=float(retention), sweep_every=None if sweep_every is None else float(sweep_every))
