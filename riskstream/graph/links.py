"""Which account-entity links are new: the low-volume stream that feeds the graph.

Most orders repeat links the graph already holds (an account ordering again
from its phone, its home IP, its address).  :class:`LinkSpotter` passes on
only the links worth sending: a pair seen for the first time, or again after
``refresh`` seconds of event time so that a link in use never ages out of the
graph.  A link therefore lives between ``retention - refresh`` and
``retention`` after its last use.  Links to hubs are passed on at most once
per ``refresh`` per hub (they only keep the hub's record fresh), so a hub used
by 100,000 accounts costs one entry, not 100,000.

In the stream the spotter runs where entity touches are counted and its
output travels to the one graph instance, whose index takes just those links.
In one process the index applies the same rule itself
(:meth:`~riskstream.graph.ClusterIndex.spot_links`): it holds every live link
with its last time anyway, so a spotter there would only keep a second copy.
"""

from __future__ import annotations

from typing import Container, Iterable

from ..timebuckets import TimeBuckets

#: The entity kinds that can link accounts.
LINK_KINDS = ("ip", "ip_prefix", "device", "phone", "payment", "address")


def entity_node(kind: str, key: str) -> str:
    """The graph node of an entity: its kind and its pseudonymous key, ``"device:3f9a..."``."""
    return f"{kind}:{key}"


def node_kind(node: str) -> str:
    return node[: node.find(":")]


class LinkSpotter:
    """Remembers which account-entity links were passed on, and when."""

    def __init__(self, retention: float, refresh: float | None = None):
        self.retention = float(retention)
        self.refresh = float(refresh) if refresh is not None else self.retention / 4
        self.watermark = float("-inf")
        self._last: dict[str, dict[str, float]] = {}  # account -> {node: last passed on}
        self._hub_last: dict[str, float] = {}
        # accounts by their first link, and by the newest one they keep after each sweep (when
        # they are forgotten is only a matter of memory: a link remembered past ``refresh`` is
        # passed on again just as a forgotten one is)
        self._accounts: TimeBuckets[str] = TimeBuckets(max(1.0, self.retention / 8))
        self._next_sweep = float("-inf")
        self.passed = 0  # links passed on so far

    def __len__(self) -> int:
        """Links remembered."""
        return sum(len(nodes) for nodes in self._last.values())

    def spot(self, account: str, nodes: Iterable[str], ts: float, hubs: Container[str] = ()) -> list[str]:
        """The nodes of ``nodes`` whose link with ``account`` should be sent to the graph now
        (``nodes`` itself when it is a list and every link in it is new)."""
        if ts > self.watermark:
            self.watermark = ts
            if ts >= self._next_sweep:
                self.sweep()
        mine = self._last.get(account)
        if mine is None and not hubs:  # an account not seen within the retention: every link is new
            out = nodes if nodes.__class__ is list else list(nodes)  # type: ignore[assignment]
            if not out:
                return out
            mine = self._last[account] = dict.fromkeys(out, ts)
            if len(mine) < len(out):  # a node listed twice is passed on once
                out = list(mine)
            self._accounts.file_at(account, ts)
        else:
            out = self._spot_known(account, mine, nodes, ts, hubs)
        self.passed += len(out)
        return out

    def _spot_known(self, account: str, mine: dict[str, float] | None, nodes: Iterable[str], ts: float,
                    hubs: Container[str]) -> list[str]:
        """:meth:`spot` for an account seen before, or with ``hubs``: the nodes passed on."""
        out: list[str] = []
        refresh = self.refresh
        for node in nodes:
            if node in hubs:
                seen = self._hub_last.get(node)
                if seen is None or ts - seen >= refresh:
                    self._hub_last[node] = ts
                    out.append(node)
                continue
            if mine is None:  # its first link that is not to a hub
                mine = self._last[account] = {}
                self._accounts.file_at(account, ts)
                seen = None
            else:
                seen = mine.get(node)
            if seen is None or ts - seen >= refresh:
                mine[node] = ts
                out.append(node)
        return out

    def sweep(self) -> None:
        """Forget links not passed on within the retention (the graph dropped them too)."""
        cut = self.watermark - self.retention
        for _, accounts in self._accounts.expired(cut):
            for account in accounts:
                mine = self._last.get(account)
                if mine is None:
                    continue
                for node in [n for n, seen in mine.items() if seen <= cut]:
                    del mine[node]
                if mine:
                    self._accounts.file_at(account, max(mine.values()))
                else:
                    del self._last[account]
        for node in [n for n, seen in self._hub_last.items() if seen <= cut]:
            del self._hub_last[node]
        self._next_sweep = self.watermark + max(60.0, self.retention / 8)
