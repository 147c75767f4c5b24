"""The union-find's nodes: accounts that share an entity, and hubs that never merge.

:class:`Member` is one account in the union-find of :class:`~riskstream.graph.index.ClusterIndex`;
the root of each cluster also holds its members, founder and cached views.
:class:`Hub` records an entity shared by too many accounts to mean anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["Hub", "Member", "cluster_id_of", "find_root"]


@dataclass(slots=True)
class Hub:
    """An entity shared by too many accounts to mean anything; recorded, never merged."""

    node: str
    first_seen: float
    last_seen: float
    accounts: int  # accounts linked when it became a hub
    links: int = 0  # links (first sightings and refreshes) seen since
    seen: dict[str, float] | None = None  # when the index spots links itself: account -> last link taken

    def to_dict(self) -> dict:
        return {"node": self.node, "first_seen": self.first_seen, "last_seen": self.last_seen,
                "accounts": self.accounts, "links": self.links}


def cluster_id_of(founder: str) -> str:
    """The id of a cluster founded by account ``founder``: stable, opaque, 14 characters."""
    return "cl-" + hashlib.blake2b(founder.encode(), digest_size=6, person=b"riskstream.cl").hexdigest()[:11]


class Member:
    """An account that shares an entity.  Roots (one per cluster) also hold the members and the founder."""

    __slots__ = ("id", "parent", "links", "first", "born", "bucket", "members", "founder", "stamp", "ids", "borns",
                 "kinds", "stale", "serial")

    def __init__(self, account: str, ts: float, born: float | None):
        self.id = account
        self.parent = self
        self.links: dict[str, float] = {}  # shared entity node -> last link time (not hubs, not its own)
        self.first = ts
        self.born = born
        self.bucket: int | None = None  # sweep bucket of the newest link
        self.members: list[Member] | None = [self]
        self.founder: tuple[float, str] | None = (ts, account)
        self.stamp = 0  # changes whenever the kinds of entity it shares may have changed
        # Roots only: the members' ids and known creation times (sorted), listed on first use
        # after each change of the members.
        self.ids: list[str] | None = None
        self.borns: list[float] | None = None
        # Roots only, once kinds_by_member was asked: its answer (replaced, never changed, when
        # the cluster changes), and the members whose entry must be worked out again.
        self.kinds: dict[str, list[str]] | None = None
        self.stale: list[Member] | None = None
        self.serial = 0  # roots only: see lineage (0: none given yet)


def find_root(me: Member) -> Member:
    """The root of ``me``'s cluster (path halving on the way)."""
    up = me.parent
    while up is not me:  # path halving
        grand = up.parent
        me.parent = grand
        me, up = grand, grand.parent
    return me
