"""Pictures drawn on the server as SVG text: a case's cluster and the dashboard's charts.

The cluster picture puts the case's accounts (circles, coloured by the strongest
decision on their orders) beside the shared entities that link them (squares, one
colour per kind: device, IP, phone, address, card...).  An entity shared by at least
``hub_accounts`` accounts is a *hub* (a carrier NAT address, a pickup locker): it is
drawn with a dashed ring and named as a hub, since it does not make its accounts one
person.  Entities are the decision records' keyed pseudonyms, never raw values.

Everything is plain text built here; every label is XML-escaped, so a hostile
account id cannot inject markup into the page.  Layouts are seeded, so the same
case draws the same picture.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ..decisions import Outcome

ACTION_COLOURS = {"allow": "#4caf50", "challenge": "#8bc34a", "review": "#ffc107", "hold": "#ff9800",
                  "freeze": "#e53935"}
KIND_COLOURS = {"device": "#5c6bc0", "ip": "#26a69a", "ip_prefix": "#80cbc4", "phone": "#ab47bc",
                "address": "#8d6e63", "card": "#78909c", "payment": "#78909c"}
OTHER_KIND_COLOUR = "#9e9e9e"
MAX_NODES = 400  # beyond this the layout costs more than a reviewer can read; the rest is counted, not drawn


@dataclass
class ClusterPicture:
    """The nodes and edges of a case's cluster, before layout."""

    accounts: dict[str, Outcome] = field(default_factory=dict)  # account -> strongest outcome seen
    entities: dict[str, tuple[str, int]] = field(default_factory=dict)  # "kind:key" -> (kind, accounts sharing)
    edges: set[tuple[str, str]] = field(default_factory=set)  # (account, entity node)

    @classmethod
    def of_orders(cls, orders: Iterable[Mapping[str, Any]]) -> "ClusterPicture":
        """Nodes and edges from decision records (or rows with the same fields).

        Each order gives its account, its outcome (``action``, a label or an
        :class:`Outcome`) and its cluster record's ``links``: the shared entities
        that put the account in its cluster."""
        picture = cls()
        for order in orders:
            account = str(order["account_id"])
            action = order.get("action", Outcome.REVIEW)
            outcome = action if isinstance(action, Outcome) else Outcome.parse(str(action))
            known = picture.accounts.get(account)
            picture.accounts[account] = outcome if known is None else max(known, outcome)
            for link in ((order.get("cluster") or {}).get("links") or ()):
                kind = str(link.get("kind", "entity"))
                key = link.get("entity")
                if key is None:  # an escalation's record names only the kinds of the shared entities
                    continue
                node = f"{kind}:{key}"
                sharing = int(link.get("accounts") or 0)
                seen = picture.entities.get(node)
                picture.entities[node] = (kind, max(sharing, seen[1] if seen else 0))
                picture.edges.add((account, node))
        return picture

    def hubs(self, hub_accounts: int) -> set[str]:
        """Entity nodes shared by at least ``hub_accounts`` accounts (by record or by edges drawn)."""
        degree: dict[str, int] = {}
        for _, node in self.edges:
            degree[node] = degree.get(node, 0) + 1
        return {node for node, (_, sharing) in self.entities.items()
                if max(sharing, degree.get(node, 0)) >= hub_accounts}


def _short(text: str, keep: int = 8) -> str:
    return text if len(text) <= keep else "…" + text[-keep:]


def cluster_svg(picture: ClusterPicture, *, hub_accounts: int = 50, size: int = 640, seed: int = 7) -> str:
    """The cluster as an SVG document (text), laid out by networkx's spring layout."""
    import networkx as nx

    graph = nx.Graph()
    accounts = sorted(picture.accounts)[:MAX_NODES]
    drawn = set(accounts)
    graph.add_nodes_from(accounts)
    for account, node in sorted(picture.edges):
        if account in drawn and (node in graph or len(graph) < MAX_NODES):
            graph.add_edge(account, node)
    left_out = len(picture.accounts) + len(picture.entities) - len(graph)
    hubs = picture.hubs(hub_accounts)
    margin, radius = 28, 7 if len(graph) > 80 else 10
    if len(graph) == 1:
        layout = {accounts[0]: (0.0, 0.0)}
    else:
        layout = nx.spring_layout(graph, seed=seed, k=1.6 / max(1, len(graph)) ** 0.5) if len(graph) else {}
    span = (size - 2 * margin) / 2

    def at(node: str) -> tuple[float, float]:
        x, y = layout[node]
        return round(size / 2 + float(x) * span, 1), round(size / 2 + float(y) * span, 1)

    height = size + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="cluster" viewBox="0 0 {size} {height}" '
           f'width="{size}" height="{height}" role="img" aria-label="cluster of {len(picture.accounts)} accounts">']
    out.append('<g class="edges" stroke="#b0b0b0" stroke-width="1">')
    for a, b in graph.edges():
        (x1, y1), (x2, y2) = at(a), at(b)
        out.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>')
    out.append("</g>")
    out.append('<g class="nodes" font-family="sans-serif" font-size="9">')
    for node in graph.nodes():
        x, y = at(node)
        if node in picture.accounts:
            outcome = picture.accounts[node]
            title = f"account {node}: {outcome.label}"
            out.append(f'<g class="node account" data-node={quoteattr(node)}><title>{escape(title)}</title>'
                       f'<circle cx="{x}" cy="{y}" r="{radius}" fill="{ACTION_COLOURS[outcome.label]}" '
                       f'stroke="#333"/>')
            if len(graph) <= 60:
                out.append(f'<text x="{x}" y="{y + radius + 10}" text-anchor="middle">{escape(_short(node))}</text>')
            out.append("</g>")
        else:
            kind, sharing = picture.entities[node]
            hub = node in hubs
            colour = KIND_COLOURS.get(kind, OTHER_KIND_COLOUR)
            side = radius * 1.6
            title = f"{kind} {node.partition(':')[2]}: shared by {sharing} accounts" + (" (hub)" if hub else "")
            out.append(f'<g class="node entity {escape(kind)}{" hub" if hub else ""}" data-node={quoteattr(node)}>'
                       f'<title>{escape(title)}</title>'
                       f'<rect x="{x - side / 2:.1f}" y="{y - side / 2:.1f}" width="{side:.1f}" height="{side:.1f}" '
                       f'fill="{colour}"/>')
            if hub:
                out.append(f'<circle cx="{x}" cy="{y}" r="{side:.1f}" fill="none" stroke="#e53935" '
                           f'stroke-dasharray="3 2" stroke-width="1.5"/>'
                           f'<text x="{x}" y="{y - side - 3:.1f}" text-anchor="middle" fill="#e53935">hub</text>')
            out.append("</g>")
    out.append("</g>")
    out.append(_legend(picture, size, left_out))
    out.append("</svg>")
    return "\n".join(out)


def _legend(picture: ClusterPicture, size: int, left_out: int) -> str:
    kinds = sorted({kind for kind, _ in picture.entities.values()})
    items = [(f"{kind}", KIND_COLOURS.get(kind, OTHER_KIND_COLOUR)) for kind in kinds]
    parts = [f'<g class="legend" font-family="sans-serif" font-size="11" transform="translate(8,{size + 8})">']
    x = 0
    for label, colour in items:
        parts.append(f'<rect x="{x}" y="0" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="9">{escape(label)}</text>')
        x += 20 + 7 * len(label)
    note = f"{len(picture.accounts)} accounts, {len(picture.entities)} shared entities"
    if left_out > 0:
        note += f" ({left_out} not drawn)"
    parts.append(f'<text x="0" y="26">{escape(note)}</text></g>')
    return "".join(parts)


def bar_chart(title: str, bars: Sequence[tuple[str, float]], *, unit: str = "", width: int = 480,
              maximum: float | None = None, colour: str = "#3f51b5") -> str:
    """Horizontal bars with their values: one chart of the dashboard (text SVG).

    ``maximum`` fixes the scale (1.0 for shares); by default the largest bar fills the width."""
    row, label_width, top = 22, 150, 28
    height = top + row * max(1, len(bars)) + 8
    scale = maximum if maximum else max((value for _, value in bars), default=0.0) or 1.0
    room = width - label_width - 70
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label={quoteattr(title)} font-family="sans-serif" font-size="12">',
           f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>']
    if not bars:
        out.append(f'<text x="0" y="{top + 14}" fill="#777">nothing yet</text>')
    for i, (label, value) in enumerate(bars):
        y = top + i * row
        length = max(0.0, min(1.0, value / scale)) * room
        shown = f"{value:.2f}" if isinstance(value, float) and not float(value).is_integer() else f"{value:g}"
        out.append(f'<g class="bar"><text x="{label_width - 6}" y="{y + 14}" text-anchor="end">'
                   f'{escape(_short(str(label), 22))}</text>'
                   f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row - 6}" fill="{colour}"/>'
                   f'<text x="{label_width + length + 4:.1f}" y="{y + 14}">{escape(shown + unit)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


__all__ = ["ACTION_COLOURS", "KIND_COLOURS", "ClusterPicture", "bar_chart", "cluster_svg"]
