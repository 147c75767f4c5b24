"""Linked accounts: an incremental union-find over account-entity links.

Accounts are linked through the entities their orders use: an IP, a device,
a phone, a payment fingerprint, a shipping address.  Accounts sharing an
entity are in one cluster, transitively.  Entity nodes are plain strings
``"kind:pseudonym"`` (see :func:`~riskstream.graph.links.entity_node`), so the
state holds pseudonyms only, never raw values, and everything it exchanges is
plain strings, floats and tuples.

* **Hubs.**  An entity linked to more accounts than its kind's limit within
  the retention (a carrier NAT, a campus network, a pickup locker) becomes a
  hub: it is recorded (first and last seen, links counted) but never merges
  clusters.  The clusters it glued before it crossed the limit are rebuilt
  without it, and its per-account links are forgotten, so a hub costs O(1)
  memory however many accounts use it.
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

import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping

#: Changes reported by :meth:`ClusterIndex.link`, as plain tuples:
#: ``("merge", cluster_id, size)`` - the account's cluster grew to ``size``;
#: ``("hub", node, accounts)`` - ``node`` became a hub linked to ``accounts`` accounts.
Change = tuple


@dataclass(slots=True)
class Hub:
    """An entity shared by too many accounts to mean anything; recorded, never merged."""

    node: str
    first_seen: float
    last_seen: float
    accounts: int  # accounts linked when it became a hub
    links: int = 0  # links (first sightings and refreshes) seen since

    def to_dict(self) -> dict:
        return {"node": self.node, "first_seen": self.first_seen, "last_seen": self.last_seen,
                "accounts": self.accounts, "links": self.links}


def cluster_id_of(founder: str) -> str:
    """The id of a cluster founded by account ``founder``: stable, opaque, 14 characters."""
    return "cl-" + hashlib.blake2b(founder.encode(), digest_size=6, person=b"riskstream.cl").hexdigest()[:11]


class ClusterIndex:
    """Clusters of accounts linked through shared entities, kept incrementally.

    ``hub_accounts`` is how many accounts an entity may link before it is a
    hub; ``hubs`` overrides it per entity kind (``{"ip": 30}``).
    ``retention`` (seconds of event time) is how long a link lives without
    being refreshed.

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
        self._parent: dict[str, str] = {}  # account -> parent account; roots point to themselves
        self._members: dict[str, list[str]] = {}  # root -> member accounts
        self._founder: dict[str, tuple[float, str]] = {}  # root -> (first seen, account) of its earliest member
        self._first: dict[str, float] = {}  # account -> first link time
        self._born: dict[str, float | None] = {}  # account -> creation time, when known
        self._links: dict[str, dict[str, float]] = {}  # account -> {entity node: last link time}
        self._entities: dict[str, dict[str, float]] = {}  # non-hub entity node -> {account: last link time}
        self._bucket_width = max(1.0, self.retention / 8)
        self._buckets: dict[int, list[tuple[str, str]]] = {}  # time bucket -> (account, node) linked then
        self._next_sweep = float("-inf")
        self._ids: dict[str, str] = {}

    # ------------------------------------------------------------------ updates
    def link(self, account: str, nodes: Iterable[str], ts: float, born: float | None = None) -> list[Change]:
        """Link ``account`` to entity ``nodes`` at event time ``ts`` (new or refreshed links).

        ``born`` is the account's creation time (epoch seconds), if known.
        Returns the changes this made (see :data:`Change`).
        """
        changes: list[Change] = []
        self.advance(ts)
        links = self._links.get(account)
        entities, hubs = self._entities, self.hubs
        for node in nodes:
            hub = hubs.get(node)
            if hub is not None:
                hub.links += 1
                if ts > hub.last_seen:
                    hub.last_seen = ts
                continue
            if links is None:
                links = self._add_account(account, ts, born)
            links[node] = ts
            self._file(account, node, ts)
            accounts = entities.get(node)
            if accounts is None:
                entities[node] = {account: ts}
                continue
            if account in accounts:
                accounts[account] = max(ts, accounts[account])
                continue
            accounts[account] = ts
            if len(accounts) > self.hub_limit(node):
                changes.append(("hub", node, len(accounts)))
                self._make_hub(node, ts)
                links = self._links.get(account)
                continue
            other = next(iter(accounts))
            root = self._union(account, other)
            if root is not None:
                changes.append(("merge", self._id_of(root), len(self._members[root])))
        return changes

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

        Returns how many links were dropped.
        """
        cut = self.watermark - self.retention
        width = self._bucket_width
        dropped = 0
        affected: list[str] = []
        for bucket in [b for b in self._buckets if (b + 1) * width <= cut]:
            for account, node in self._buckets.pop(bucket):
                links = self._links.get(account)
                if links is None:
                    continue
                seen = links.get(node)
                if seen is None or seen > cut:
                    continue  # refreshed since, or already gone
                del links[node]
                accounts = self._entities.get(node)
                if accounts is not None:
                    accounts.pop(account, None)
                    if not accounts:
                        del self._entities[node]
                dropped += 1
                affected.append(self._find(account))
        if affected:
            self._rebuild(affected)
        for node in [n for n, hub in self.hubs.items() if hub.last_seen <= cut]:
            del self.hubs[node]
        self._next_sweep = self.watermark + self.sweep_every
        return dropped

    # ------------------------------------------------------------------ queries
    def cluster_of(self, account: str) -> tuple[str, int] | None:
        """``(cluster id, size)`` of the account's cluster, or None when it is alone."""
        if account not in self._parent:
            return None
        root = self._find(account)
        size = len(self._members[root])
        if size == 1:
            return None
        return self._id_of(root), size

    def members(self, account: str) -> list[str]:
        """The accounts of ``account``'s cluster (just itself when alone or unknown), oldest first."""
        if account not in self._parent:
            return [account]
        return list(self._members[self._find(account)])

    def links_of(self, account: str) -> dict[str, float]:
        """The account's live non-hub links: entity node -> last link time."""
        return dict(self._links.get(account, {}))

    def accounts_of(self, node: str) -> dict[str, float]:
        """Accounts linked to a non-hub entity: account -> last link time."""
        return dict(self._entities.get(node, {}))

    def sharing(self, node: str) -> int:
        """How many accounts share a non-hub entity (0 for unknown entities and hubs)."""
        accounts = self._entities.get(node)
        return len(accounts) if accounts is not None else 0

    def born(self, account: str) -> float | None:
        return self._born.get(account)

    def first_seen(self, account: str) -> float | None:
        return self._first.get(account)

    def clusters(self, min_size: int = 2) -> list[tuple[str, list[str]]]:
        """Every cluster of at least ``min_size`` accounts: ``(id, members)``, largest first."""
        out = [(self._id_of(root), list(members)) for root, members in self._members.items() if len(members) >= min_size]
        out.sort(key=lambda c: (-len(c[1]), c[0]))
        return out

    def find_cluster(self, cluster_id: str) -> list[str] | None:
        """Members of the cluster with this id, or None."""
        for root, members in self._members.items():
            if len(members) > 1 and self._id_of(root) == cluster_id:
                return list(members)
        return None

    def size(self) -> dict[str, int]:
        """Accounts, entities, links and hubs held, for memory reports."""
        return {
            "accounts": len(self._parent),
            "entities": len(self._entities),
            "links": sum(len(links) for links in self._links.values()),
            "hubs": len(self.hubs),
            "clusters": sum(1 for members in self._members.values() if len(members) > 1),
            "rebuilds": self.rebuilds,
        }

    # ------------------------------------------------------------------ internals
    def _add_account(self, account: str, ts: float, born: float | None) -> dict[str, float]:
        self._parent[account] = account
        self._members[account] = [account]
        self._founder[account] = (ts, account)
        self._first[account] = ts
        if born is not None:
            self._born[account] = born
        links: dict[str, float] = {}
        self._links[account] = links
        return links

    def _file(self, account: str, node: str, ts: float) -> None:
        bucket = int(ts // self._bucket_width)
        pairs = self._buckets.get(bucket)
        if pairs is None:
            self._buckets[bucket] = [(account, node)]
        else:
            pairs.append((account, node))

    def _find(self, account: str) -> str:
        parent = self._parent
        up = parent[account]
        while up != account:  # path halving
            grand = parent[up]
            parent[account] = grand
            account, up = grand, parent[grand]
        return account

    def _union(self, a: str, b: str) -> str | None:
        """Merge the clusters of ``a`` and ``b``; the new root, or None if already one."""
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return None
        members = self._members
        if len(members[ra]) < len(members[rb]) or (len(members[ra]) == len(members[rb]) and self._founder[rb] < self._founder[ra]):
            ra, rb = rb, ra
        self._parent[rb] = ra
        members[ra].extend(members.pop(rb))
        founder = self._founder.pop(rb)
        if founder < self._founder[ra]:
            self._founder[ra] = founder
        return ra

    def _id_of(self, root: str) -> str:
        founder = self._founder[root][1]
        cid = self._ids.get(founder)
        if cid is None:
            if len(self._ids) >= 100_000:
                self._ids.clear()
            cid = self._ids[founder] = cluster_id_of(founder)
        return cid

    def _make_hub(self, node: str, ts: float) -> None:
        """``node`` crossed its kind's limit: record it as a hub and undo the merges it made."""
        accounts = self._entities.pop(node)
        first = min(accounts.values())
        self.hubs[node] = Hub(node, first, ts, len(accounts), len(accounts))
        roots = []
        for account in accounts:
            links = self._links.get(account)
            if links is not None:
                links.pop(node, None)
            roots.append(self._find(account))
        self._rebuild(roots)

    def _rebuild(self, roots: list[str]) -> None:
        """Rebuild the components of ``roots`` from their live links (union-find has no delete)."""
        accounts: list[str] = []
        for root in dict.fromkeys(roots):
            members = self._members.pop(root, None)
            if members is not None:
                del self._founder[root]
                accounts.extend(members)
        live = []
        for account in accounts:
            if not self._links.get(account):  # no live links left: it leaves the graph
                self._links.pop(account, None)
                self._parent.pop(account, None)
                self._first.pop(account, None)
                self._born.pop(account, None)
                continue
            self._parent[account] = account
            self._members[account] = [account]
            self._founder[account] = (self._first[account], account)
            live.append(account)
        entities = self._entities
        for account in live:
            for node in self._links[account]:
                others = entities.get(node)
                if others:
                    first = next(iter(others))
                    if first != account:
                        self._union(account, first)
        self.rebuilds += 1
