"""The console's server-drawn pictures, on decisions of a replayed simulated sale."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

import orjson
import pytest

from riskstream.assembly import load_engine
from riskstream.console.svg import ClusterPicture, bar_chart, cluster_svg
from riskstream.offline.replay import replay
from riskstream.sim import simulate

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def ring_orders() -> list[dict]:
    """The latest decisions of the largest flagged cluster of a simulated day (shipped rules)."""
    final: dict[str, dict] = {}
    events = simulate(2_500, seed=3)
    replay(load_engine("rules"), ((f"sim:{n}", e) for n, e in enumerate(events)),
           write=lambda line: final.__setitem__(orjson.loads(line)["order_id"], orjson.loads(line)))
    by_cluster: dict[str, list[dict]] = defaultdict(list)
    for record in final.values():
        if record["cluster_id"] and record["action"] != "allow":
            by_cluster[record["cluster_id"]].append(record)
    assert by_cluster, "the simulated day has no flagged cluster"
    return max(by_cluster.values(), key=lambda orders: len({o["account_id"] for o in orders}))


def _nodes(svg: str, cls: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [g for g in root.iter(f"{SVG}g") if cls in (g.get("class") or "").split()]


def test_a_ring_draws_every_account_and_the_entities_linking_them(ring_orders):
    picture = ClusterPicture.of_orders(ring_orders)
    svg = cluster_svg(picture)
    accounts = {g.get("data-node") for g in _nodes(svg, "account")}
    assert accounts == {o["account_id"] for o in ring_orders}
    entities = _nodes(svg, "entity")
    linked = {f"{link['kind']}:{link['entity']}" for o in ring_orders for link in o["cluster"]["links"]
              if "entity" in link}  # an escalated revision's record names only the kinds
    assert len(linked) >= 2
    assert {g.get("data-node") for g in entities} == linked
    assert len(ET.fromstring(svg).findall(f"{SVG}g/{SVG}line")) == len(picture.edges)
    assert svg == cluster_svg(ClusterPicture.of_orders(reversed(ring_orders)))  # seeded layout: same picture


def test_hubs_are_marked(ring_orders):
    picture = ClusterPicture.of_orders(ring_orders)
    busiest = max(picture.entities.items(), key=lambda item: item[1][1])
    threshold = busiest[1][1]
    hubs = {g.get("data-node") for g in _nodes(cluster_svg(picture, hub_accounts=threshold), "hub")}
    assert busiest[0] in hubs
    assert all(picture.entities[node][1] >= threshold for node in hubs)
    assert _nodes(cluster_svg(picture, hub_accounts=10_000), "hub") == []


def test_an_account_is_coloured_by_its_strongest_outcome():
    orders = [{"account_id": "a1", "action": "review", "cluster": {"links": [{"kind": "ip", "entity": "k1",
                                                                            "accounts": 2}]}},
              {"account_id": "a1", "action": "freeze", "cluster": None},
              {"account_id": "a2", "action": "hold", "cluster": {"links": [{"kind": "ip", "entity": "k1",
                                                                          "accounts": 2}]}}]
    picture = ClusterPicture.of_orders(orders)
    assert picture.accounts == {"a1": 4, "a2": 3}
    circles = {g.get("data-node"): g.find(f"{SVG}circle").get("fill") for g in _nodes(cluster_svg(picture), "account")}
    assert circles == {"a1": "#e53935", "a2": "#ff9800"}


def test_a_lone_order_draws_one_account():
    svg = cluster_svg(ClusterPicture.of_orders([{"account_id": "solo", "action": "hold"}]))
    assert [g.get("data-node") for g in _nodes(svg, "account")] == ["solo"]


def test_labels_cannot_inject_markup():
    hostile = '<script>alert("x")</script>&'
    svg = cluster_svg(ClusterPicture.of_orders([{"account_id": hostile, "action": "hold"}]))
    root = ET.fromstring(svg)  # still well-formed
    assert not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))
    assert _nodes(svg, "account")[0].get("data-node") == hostile
    chart = bar_chart(hostile, [(hostile, 3)])
    assert "<script>" not in chart and ET.fromstring(chart).get("aria-label") == hostile


def test_a_bar_chart_scales_its_bars():
    root = ET.fromstring(bar_chart("verdicts by action", [("freeze", 30), ("release", 15), ("escalate", 0)]))
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(2 * widths[1]) and widths[2] == 0
    shares = ET.fromstring(bar_chart("precision", [("r1", 0.5)], maximum=1.0))
    texts = [t.text for t in shares.iter(f"{SVG}text")]
    assert "0.50" in texts
    assert "nothing yet" in [t.text for t in ET.fromstring(bar_chart("empty", [])).iter(f"{SVG}text")]
