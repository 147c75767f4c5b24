"""Cluster records and their analysis with networkx, off the hot path.

The union-find knows who is linked to whom; a reviewer needs to know how:
which entities the accounts share, how dense the sharing is, whether the
cluster falls apart into communities, how new the accounts are and what they
bought.  :func:`describe` builds a :class:`Cluster` record from a
:class:`~riskstream.graph.ClusterIndex`; :func:`analyse` adds the networkx
features.  Both run for flagged clusters only (a reviewer's request, a
report), never per order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

from .index import ClusterIndex
from .links import node_kind


@dataclass
class Cluster:
    """One cluster of linked accounts, as a reviewer sees it.

    ``links`` maps an entity kind to the entities of that kind the members
    share: ``{"device": {"device:3f9a...": ["u1", "u2"]}}``.
    """

    id: str
    members: list[str]
    links: dict[str, dict[str, list[str]]]
    first_seen: float
    last_seen: float
    born: dict[str, float | None] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.members)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "size": self.size,
            "members": self.members,
            "links": self.links,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "features": self.features,
        }


def describe(index: ClusterIndex, cluster_id: str) -> Cluster | None:
    """The record of the cluster with this id (links as they stand now), or None."""
    members = index.find_cluster(cluster_id)
    if members is None:
        return None
    links: dict[str, dict[str, list[str]]] = {}
    last = float("-inf")
    for account in members:
        for node, seen in index.links_of(account).items():
            last = max(last, seen)
            sharers = index.accounts_of(node)
            if len(sharers) > 1:
                links.setdefault(node_kind(node), {}).setdefault(node, sharers)
    first = min(index.first_seen(a) or 0.0 for a in members)
    return Cluster(cluster_id, members, links, first, last, {a: index.born(a) for a in members})


def graph_of(cluster: Cluster):
    """The account-entity graph of a cluster (networkx, bipartite: ``kind`` is account or the entity kind)."""
    import networkx as nx

    graph = nx.Graph()
    for account in cluster.members:
        graph.add_node(account, kind="account")
    for kind, entities in cluster.links.items():
        for node, accounts in entities.items():
            graph.add_node(node, kind=kind)
            for account in accounts:
                graph.add_edge(account, node)
    return graph


def analyse(cluster: Cluster, orders: Mapping[str, list[dict]] | None = None, *, new_account_age: float = 7 * 86400.0) -> dict[str, Any]:
    """Features of a cluster: sharing, density, communities, account age, purchases.

    ``orders`` maps a member to its orders (``{"skus": {sku: units}, "flash": bool, ...}``),
    when the caller has them.  The features are also stored on ``cluster.features``.
    """
    import networkx as nx
    from networkx.algorithms import bipartite, community

    graph = graph_of(cluster)
    accounts = [a for a in cluster.members if a in graph]
    projection = bipartite.projected_graph(graph, accounts)
    if projection.number_of_edges():
        communities = community.louvain_communities(projection, seed=0)
    else:
        communities = [{a} for a in accounts]
    shared = {kind: len(entities) for kind, entities in sorted(cluster.links.items())}
    ages = [cluster.last_seen - born for born in cluster.born.values() if born is not None]
    features: dict[str, Any] = {
        "accounts": len(accounts),
        "shared_entities": shared,
        "account_links": sum(len(v) for entities in cluster.links.values() for v in entities.values()),
        "density": round(nx.density(projection), 4) if len(accounts) > 1 else 0.0,
        "communities": sorted((len(c) for c in communities), reverse=True),
        "new_account_share": round(sum(age < new_account_age for age in ages) / len(ages), 4) if ages else None,
        "median_account_age_days": round(sorted(ages)[len(ages) // 2] / 86400, 2) if ages else None,
    }
    if orders is not None:
        skus: Counter = Counter()
        count = flash = 0
        for account in cluster.members:
            for order in orders.get(account, ()):
                count += 1
                flash += bool(order.get("flash"))
                skus.update(order.get("skus", {}))
        features["orders"] = count
        features["flash_orders"] = flash
        features["top_skus"] = dict(skus.most_common(5))
    cluster.features = features
    return features
