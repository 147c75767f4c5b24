"""What reviewers see of clusters: ``riskstream cluster list`` and ``cluster show``.

Both replay an order file through the engine (so the graph is the one the
decisions saw), then print with rich.  ``show`` also draws the cluster's
account-entity graph (PNG or SVG, by the file's suffix): accounts are
circles coloured by their strongest final decision, shared entities are
squares coloured by kind, so a ring's shared devices, phones and cards stand
out at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

from ..decisions import Decision, Outcome
from ..engine import DecisionEngine
from ..graph.analysis import Cluster, analyse, describe, graph_of
from .replay import ReplayReport, decide_records

ACTION_COLOURS = {"allow": "#9ecae1", "challenge": "#c6dbef", "review": "#fdd49e", "hold": "#fc8d59", "freeze": "#b30000"}
KIND_COLOURS = {"ip": "#74c476", "ip_prefix": "#a1d99b", "device": "#6a51a3", "phone": "#3182bd",
                "payment": "#e6550d", "address": "#8c6d31"}


@dataclass
class ReviewData:
    """An input replayed for review: the engine (with its graph) and every order's final decision."""

    engine: DecisionEngine
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # account -> its orders
    decisions: dict[str, Decision] = field(default_factory=dict)  # order id -> last revision
    named: dict[str, list[str]] = field(default_factory=dict)  # cluster id in decisions -> accounts


def replay_for_review(engine: DecisionEngine, records: Iterable[tuple[str, Any]]) -> ReviewData:
    if engine.graph is None:
        raise ValueError("the rule set keeps no graph (no `graph` section or cluster rule)")
    data = ReviewData(engine)
    report = ReplayReport()
    for event, decision in decide_records(engine, records, report):
        data.decisions[decision.order_id] = decision
        if decision.cluster_id is not None:
            accounts = data.named.setdefault(decision.cluster_id, [])
            if decision.account_id not in accounts:
                accounts.append(decision.account_id)
        if event is None:
            continue  # an escalation: the order is already listed
        skus: dict[str, int] = {}
        for item in event.get("items", ()):
            skus[item["sku"]] = skus.get(item["sku"], 0) + item["quantity"]
        data.orders.setdefault(decision.account_id, []).append({
            "order_id": decision.order_id, "event_time": decision.event_time, "skus": skus,
            "flash": bool(event.get("sale_id")), "amount": event.get("amount"),
        })
    return data


def find(data: ReviewData, cluster_id: str) -> tuple[Cluster | None, str | None]:
    """The cluster with this id now, or the cluster its accounts are in now (and a note saying so)."""
    index = data.engine.graph.index  # type: ignore[union-attr]
    cluster = describe(index, cluster_id)
    if cluster is not None:
        return cluster, None
    for account in data.named.get(cluster_id, ()):
        found = index.cluster_of(account)
        if found is not None:
            return describe(index, found[0]), f"{cluster_id} was merged into {found[0]} later in the input"
    return None, None


def _worst(data: ReviewData, account: str) -> Outcome:
    actions = [data.decisions[o["order_id"]].action for o in data.orders.get(account, ())]
    return max(actions, default=Outcome.ALLOW)


def print_list(data: ReviewData, top: int = 20, flagged_only: bool = False, console: Console | None = None) -> list[dict]:
    """The largest clusters (or only those with blocked orders), with their decisions."""
    console = console or Console()
    graph = data.engine.graph
    assert graph is not None
    rows = []
    for cid, members in graph.index.clusters():
        actions = [data.decisions[o["order_id"]].action for m in members for o in data.orders.get(m, ())]
        blocked = sum(a.blocked for a in actions)
        if flagged_only and not blocked:
            continue
        born = [graph.index.born(m) for m in members]
        last = max((graph.index.first_seen(m) or 0.0) for m in members)
        new = sum(b is not None and last - b < graph.settings.new_account_age for b in born)
        rows.append({"id": cid, "size": len(members), "new_share": round(new / len(members), 2),
                     "orders": len(actions), "blocked": blocked, "frozen": sum(a is Outcome.FREEZE for a in actions)})
        if len(rows) >= top:
            break
    table = Table(title=("flagged clusters" if flagged_only else "largest clusters") + f" (of {len(graph.index.clusters())})")
    for name in ("cluster", "size", "new share", "orders", "blocked", "frozen"):
        table.add_column(name, justify="left" if name == "cluster" else "right")
    for row in rows:
        table.add_row(row["id"], str(row["size"]), f"{row['new_share']:.0%}", str(row["orders"]), str(row["blocked"]),
                      str(row["frozen"]))
    console.print(table)
    hubs = graph.index.hubs
    if hubs:
        console.print(f"hubs (shared by too many accounts to link them): {len(hubs)} - "
                      + ", ".join(f"{h.node[:18]}… ({h.accounts}+ accounts)" for h in list(hubs.values())[:5]))
    return rows


def _time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def print_cluster(data: ReviewData, cluster: Cluster, note: str | None = None, console: Console | None = None) -> dict:
    """Members, links by entity type, orders with their decisions, and the cluster's features."""
    console = console or Console()
    graph = data.engine.graph
    assert graph is not None
    features = analyse(cluster, data.orders, new_account_age=graph.settings.new_account_age)
    console.print(f"[bold]cluster {cluster.id}[/]: {cluster.size} accounts, first seen {_time(cluster.first_seen)}, "
                  f"last seen {_time(cluster.last_seen)}")
    if note:
        console.print(f"[dim]{note}[/]")
    console.print(f"density {features['density']}, communities {features['communities']}, "
                  f"new accounts {features['new_account_share']}, shared entities {features['shared_entities']}")

    members = Table(title="members")
    for name in ("account", "created", "orders", "strongest decision"):
        members.add_column(name)
    for account in cluster.members:
        members.add_row(account, _time(cluster.born.get(account)), str(len(data.orders.get(account, ()))),
                        _worst(data, account).label)
    console.print(members)

    links = Table(title="shared entities (pseudonyms)")
    for name in ("kind", "entity", "accounts"):
        links.add_column(name)
    for kind, entities in sorted(cluster.links.items()):
        for node, accounts in entities.items():
            links.add_row(kind, node.partition(":")[2], f"{len(accounts)}: " + ", ".join(accounts[:6]) + (" …" if len(accounts) > 6 else ""))
    console.print(links)

    orders = Table(title="orders (time as ordered; rules: the rules that hit the last revision)")
    for name in ("order", "account", "time", "items", "action", "rev"):
        orders.add_column(name, no_wrap=True)
    orders.add_column("rules", overflow="fold")
    rows = sorted((o | {"account": a} for a in cluster.members for o in data.orders.get(a, ())), key=lambda o: o["event_time"])
    for order in rows:
        decision = data.decisions[order["order_id"]]
        items = ", ".join(f"{sku}x{units}" for sku, units in order["skus"].items())
        orders.add_row(order["order_id"], order["account"], order["event_time"][11:19], items, decision.action.label,
                       str(decision.revision), ", ".join(r.rule for r in decision.reasons))
    console.print(orders)
    return {"cluster": cluster.to_dict(), "orders": len(rows)}


def draw(data: ReviewData, cluster: Cluster, path: str | Path) -> Path:
    """Write the cluster's account-entity picture; the format follows the suffix (.png or .svg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"the picture must be a .png or .svg file, got {path.name}")
    graph = graph_of(cluster)
    layout = nx.spring_layout(graph, seed=7, k=1.5 / max(1, len(graph)) ** 0.5)
    side = min(16.0, 5.0 + len(graph) ** 0.5)
    figure, axes = plt.subplots(figsize=(side, side))
    accounts = [n for n, kind in graph.nodes(data="kind") if kind == "account"]
    nx.draw_networkx_edges(graph, layout, ax=axes, edge_color="#999999", width=0.8)
    nx.draw_networkx_nodes(graph, layout, nodelist=accounts, ax=axes, node_shape="o", node_size=260,
                           node_color=[ACTION_COLOURS[_worst(data, a).label] for a in accounts])
    for kind, colour in KIND_COLOURS.items():
        nodes = [n for n, k in graph.nodes(data="kind") if k == kind]
        if nodes:
            nx.draw_networkx_nodes(graph, layout, nodelist=nodes, ax=axes, node_shape="s", node_size=200,
                                   node_color=colour, label=kind)
    if len(accounts) <= 60:
        nx.draw_networkx_labels(graph, layout, labels={a: a[-6:] for a in accounts}, font_size=7, ax=axes)
    axes.legend(loc="upper left", fontsize=8, title="shared entity", title_fontsize=8)
    axes.set_title(f"cluster {cluster.id}: {cluster.size} accounts (circles, coloured by strongest decision)")
    axes.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format=path.suffix[1:].lower(), bbox_inches="tight")
    plt.close(figure)
    return path
