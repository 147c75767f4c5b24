"""The entity graph: union-find clusters, hubs, ageing, determinism, new-link spotting."""

import os
import subprocess
import sys

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream.graph import ClusterIndex as PureIndex
from riskstream.graph import Hub, LinkSpotter, cluster_id_of

try:
    import riskstream_native
except ImportError:  # built by `make install` where cargo is; without it only the pure index runs
    riskstream_native = None


def native_index(**options):
    return riskstream_native.ClusterIndex(cluster_id_of, Hub, **options)


# Every test here runs on both implementations: the pure-Python index and its native twin.
pytestmark = pytest.mark.parametrize("ClusterIndex", [
    pytest.param(PureIndex, id="pure"),
    pytest.param(native_index, id="native",
                 marks=pytest.mark.skipif(riskstream_native is None, reason="native core not installed"))])


def test_accounts_sharing_entities_form_one_cluster_transitively(ClusterIndex):
    index = ClusterIndex(retention=3600)
    assert index.link("a", ["device:d1"], 0) == []
    assert index.cluster_of("a") is None  # alone: no cluster
    index.link("b", ["device:d1", "phone:p1"], 1)
    index.link("c", ["phone:p1"], 2)
    index.link("z", ["phone:p2"], 3)
    assert index.members("c") == ["a", "b", "c"]
    assert index.cluster_of("a") == index.cluster_of("c") == (cluster_id_of("a"), 3)
    assert index.cluster_of("z") is None and index.members("z") == ["z"]
    assert index.cluster_of("never-seen") is None and index.members("never-seen") == ["never-seen"]


def test_a_cluster_keeps_its_id_as_it_grows_and_the_older_founder_wins_a_merge(ClusterIndex):
    index = ClusterIndex(retention=86400)
    index.link("old1", ["card:x"], 0)
    index.link("old2", ["card:x"], 1)
    for n in range(5):
        index.link(f"new{n}", ["device:y"], 10 + n)
    big = index.cluster_of("new0")
    assert big == (cluster_id_of("new0"), 5)
    changes = index.link("new0", ["card:x"], 20)  # the two clusters meet
    assert changes == [("merge", cluster_id_of("old1"), 7)]
    assert index.cluster_of("new4") == (cluster_id_of("old1"), 7)


def test_a_hub_is_recorded_but_never_merges(ClusterIndex):
    index = ClusterIndex(hub_accounts=3, hubs={"address": 2}, retention=86400)
    for n in range(3):
        index.link(f"s{n}", ["ip:nat", f"device:d{n}"], n)
    assert index.cluster_of("s0") == (cluster_id_of("s0"), 3)  # not a hub yet: 3 accounts allowed
    changes = index.link("s3", ["ip:nat", "device:d3"], 3)
    assert ("hub", "ip:nat", 4) in changes
    assert all(index.cluster_of(f"s{n}") is None for n in range(4))  # earlier merges undone
    assert index.hubs["ip:nat"].accounts == 4 and index.hubs["ip:nat"].first_seen == 0
    index.link("s4", ["ip:nat"], 4)  # links to a hub are counted, not stored
    assert index.hubs["ip:nat"].links == 5 and index.cluster_of("s4") is None
    assert index.sharing("ip:nat") == 0 and "ip:nat" not in index.links_of("s0")
    # other links still merge while the hub keeps them apart
    index.link("s1", ["phone:p"], 5)
    index.link("s2", ["phone:p"], 6)
    assert index.members("s1") == ["s1", "s2"]
    # a per-kind limit: an address shared by 3 accounts is already a hub
    for n in range(3):
        index.link(f"h{n}", ["address:locker"], 7 + n)
    assert "address:locker" in index.hubs and index.cluster_of("h0") is None


def test_kinds_by_member_follow_merges_restamps_and_a_hub_that_splits_the_ring(ClusterIndex):
    index = ClusterIndex(hub_accounts=3, retention=86400)
    for n in range(3):
        index.link(f"r{n}", ["ip:nat", f"device:d{n}"], n)
    assert index.kinds_by_member("r2") == {"r0": ["ip"], "r1": ["ip"], "r2": ["ip"]}
    index.link("r1", ["device:d0"], 3)  # r0 and r1 now share a device too
    assert index.kinds_by_member("r0") == {"r0": ["device", "ip"], "r1": ["device", "ip"], "r2": ["ip"]}
    index.link("x", ["phone:p"], 4)
    index.link("r2", ["phone:p"], 5)  # a merge brings x in
    assert list(index.kinds_by_member("x").items()) == [
        ("r0", ["device", "ip"]), ("r1", ["device", "ip"]), ("r2", ["ip", "phone"]), ("x", ["phone"])]
    index.link("r3", ["ip:nat"], 6)  # the NAT becomes a hub: the ring splits on it
    assert index.kinds_by_member("r0") == {"r0": ["device"], "r1": ["device"]}
    assert index.kinds_by_member("r2") == {"r2": ["phone"], "x": ["phone"]}
    assert index.kinds_by_member("r3") == {"r3": []} and index.kinds_by_member("nobody") == {"nobody": []}


def test_a_hub_used_by_many_accounts_costs_no_memory_per_account(ClusterIndex):
    index = ClusterIndex(hub_accounts=10, retention=3600)
    spotter = LinkSpotter(3600)
    for n in range(5000):
        account = f"u{n}"
        new = spotter.spot(account, ["ip:campus"], n * 0.1, index.hubs)
        if new:
            index.link(account, new, n * 0.1)
    size = index.size()
    assert "ip:campus" in index.hubs
    assert size["accounts"] == 0 and size["entities"] == 0 and size["links"] == 0
    assert len(spotter) <= 11  # pairs remembered only until the entity became a hub


def test_links_age_out_and_split_the_clusters_they_held(ClusterIndex):
    index = ClusterIndex(retention=1000, sweep_every=100)
    index.link("a", ["device:old"], 0)
    index.link("b", ["device:old", "phone:p"], 10)
    index.link("c", ["phone:p"], 10)
    assert len(index.members("a")) == 3
    index.link("b", ["phone:p"], 600)  # b and c keep using the phone
    index.link("c", ["phone:p"], 650)
    index.advance(1200)  # the device links (0 and 10) are past the retention
    assert index.cluster_of("a") is None and "a" not in [m for _, ms in index.clusters() for m in ms]
    assert index.members("b") == ["b", "c"]
    assert index.size()["links"] == 2  # b-phone, c-phone
    index.advance(5000)
    assert index.size() == {"accounts": 0, "entities": 0, "links": 0, "hubs": 0, "clusters": 0,
                            "rebuilds": index.rebuilds}


def test_hubs_age_out_too(ClusterIndex):
    index = ClusterIndex(hub_accounts=2, retention=1000, sweep_every=100)
    for n in range(3):
        index.link(f"a{n}", ["ip:x"], n)
    assert "ip:x" in index.hubs
    index.advance(2000)
    assert index.hubs == {}


def test_new_links_are_spotted_once_and_refreshed_before_they_age_out(ClusterIndex):
    spotter = LinkSpotter(retention=1000)  # refresh every 250 s
    assert spotter.spot("a", ["ip:1", "device:d"], 0) == ["ip:1", "device:d"]
    assert spotter.spot("a", ["ip:1", "device:d"], 100) == []
    assert spotter.spot("b", ["ip:1"], 100) == ["ip:1"]
    assert spotter.spot("a", ["device:d", "phone:p"], 260) == ["device:d", "phone:p"]
    assert spotter.spot("a", ["ip:1"], 50) == []  # a late order repeats a known link
    hubs = {"ip:nat": object()}
    assert spotter.spot("c", ["ip:nat"], 300, hubs) == ["ip:nat"]
    assert spotter.spot("d", ["ip:nat"], 301, hubs) == []  # once per refresh per hub, whoever uses it
    assert spotter.spot("e", ["ip:nat"], 600, hubs) == ["ip:nat"]
    assert spotter.spot("f", ["phone:q", "phone:q"], 700) == ["phone:q"]  # a node listed twice goes once
    assert spotter.passed == 8
    spotter.spot("z", ["ip:9"], 10_000)
    assert len(spotter) == 1  # everything older than the retention is forgotten
    filed = list(spotter._accounts.items())
    assert filed == ["z"]  # accounts that only used hubs were never filed; the others went with their links


links = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from(["ip", "device", "phone"]), st.integers(0, 12)),
    max_size=120,
)


@settings(max_examples=60, deadline=None)
@given(links)
def test_clusters_are_the_connected_components_without_hubs(ClusterIndex, pairs):
    limit = 4
    index = ClusterIndex(hub_accounts=limit, retention=10**9)
    graph = nx.Graph()
    for t, (account, kind, entity) in enumerate(pairs):
        index.link(f"a{account}", [f"{kind}:{entity}"], float(t))
        graph.add_edge(f"a{account}", f"{kind}:{entity}")
    hubs = [n for n in graph if ":" in n and graph.degree(n) > limit]
    assert sorted(index.hubs) == sorted(hubs)
    graph.remove_nodes_from(hubs)
    expected = sorted(sorted(n for n in c if ":" not in n) for c in nx.connected_components(graph))
    expected = [c for c in expected if len(c) > 1]
    assert sorted(sorted(members) for _, members in index.clusters()) == expected


PROGRAM = """
import random
from riskstream.graph import ClusterIndex, LinkSpotter
r = random.Random(5)
index, spotter = ClusterIndex(hub_accounts=6, retention=500, sweep_every=60), LinkSpotter(500)
for t in range(4000):
    account = f"u{r.randrange(400)}"
    nodes = [f"{k}:{r.randrange(300)}" for k in ("ip", "device", "phone") if r.random() < .7]
    new = spotter.spot(account, nodes, float(t), index.hubs)
    if new:
        index.link(account, new, float(t))
print(index.clusters(), sorted(index.hubs), index.size())
"""


def test_same_ordered_input_same_clusters_and_ids_in_every_process(ClusterIndex):
    outputs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert "cl-" in outputs.pop()


def test_cached_shared_kinds_follow_every_change_of_the_cluster(ClusterIndex):
    """GraphStep keeps each account's shared kinds until its cluster's stamp changes;
    with tiny hubs and a short retention (merges, hubs, sweeps, rebuilds all the time)
    the kept answer always equals a fresh one."""
    from riskstream.engine import DecisionEngine
    from riskstream.events import parse_order
    from riskstream.graph import ClusterIndex, LinkSpotter
    from riskstream.rules import load_ruleset
    from riskstream.sim import simulate

    engine = DecisionEngine(load_ruleset("rules"))
    step = engine.graph
    step.index = ClusterIndex(hub_accounts=4, hubs={"address": 3}, retention=2 * 3600.0)
    step.spotter = LinkSpotter(2 * 3600.0)
    checked = 0
    for event in simulate(6000, seed=8):
        view = engine.view(parse_order(event))
        step.observe(view)
        for member in step.index.members(view.event.account_id)[:6]:
            assert step.shared_kinds(member) == step.index.shared_kinds(member)
            checked += 1
    assert checked > 6000 and step.index.rebuilds > 20


def test_kept_flash_sums_follow_a_ring_that_grows_then_loses_a_member(ClusterIndex):
    from riskstream.engine.clusters import GraphStep
    from riskstream.engine.order_view import SaleIndex
    from riskstream.rules.model import GraphSettings

    step = GraphStep(GraphSettings(links=["device", "phone"], hub_accounts=10, retention=300), SaleIndex({}))

    def buy(n, account, nodes, ts, units=1):
        return step.apply([f"o{n}", account, ts, None, nodes, None, ["S", 1e9, ["FS-1"], [units]], False])

    buy(0, "a", ["device:d", "phone:p"], 0.0)
    buy(1, "b", ["device:d"], 1.0, units=2)
    cluster_id, _ = buy(2, "c", ["phone:p"], 200.0, units=3)
    assert step.flash_of("a", cluster_id, "S", ["FS-1"]) == (6, 3)
    buy(3, "d", ["phone:p"], 210.0, units=4)  # joins: added when next asked
    buy(4, "b", ["device:d"], 220.0)  # a counted member buys again
    assert step.flash_of("a", cluster_id, "S", ["FS-1"]) == (11, 5)
    # links age out (a and d refresh only their phones): the ring is rebuilt without b and c
    buy(5, "a", ["phone:p"], 400.0)
    found = buy(6, "d", ["phone:p"], 560.0)
    assert found is not None and step.index.members("a") == ["a", "d"]
    assert step.flash_of("a", found[0], "S", ["FS-1"]) == step.cluster_flash(["a", "d"], "S", ["FS-1"]) == (7, 4)


def assert_same_graph(fed, spotting) -> None:
    """Two indexes hold the same clusters, hubs (first and last seen, links) and sizes."""
    def hubs(index) -> dict:
        return {n: (h.first_seen, h.last_seen, h.links) for n, h in index.hubs.items()}

    assert fed.clusters() == spotting.clusters()
    assert hubs(fed) == hubs(spotting)
    assert fed.size() == spotting.size()


orders = st.lists(
    st.tuples(
        st.integers(0, 14),  # account
        st.lists(st.tuples(st.sampled_from(["device", "phone"]), st.integers(0, 5)), min_size=1, max_size=2),
        st.sampled_from(["S1", "S2"]),  # sale
        st.lists(st.tuples(st.sampled_from(["FS-1", "FS-2"]), st.integers(1, 3)), max_size=2),  # flash items
        st.integers(0, 40),  # seconds since the previous order
    ),
    max_size=90,
)


@settings(max_examples=80, deadline=None)
@given(orders)
def test_kept_cluster_sums_and_new_shares_equal_a_fresh_count(ClusterIndex, rows):
    """The graph step keeps each cluster's flash sums, sorted creation times and kinds by member
    while its members stay the same; through merges, hubs and ageing they must equal a count from scratch."""
    from riskstream.engine.clusters import GraphStep
    from riskstream.engine.order_view import SaleIndex
    from riskstream.rules.model import GraphSettings

    step = GraphStep(GraphSettings(links=["device", "phone"], hub_accounts=4, retention=300,
                                   new_account_age=200), SaleIndex({}))
    ts = 0.0
    for n, (account, nodes, sale, items, gap) in enumerate(rows):
        ts += gap
        name = f"a{account}"
        born = float(account * 37 % 500) - 250.0
        flash = [sale, 10_000.0, [sku for sku, _ in items], [q for _, q in items]] if items else None
        entry = [f"o{n}", name, ts, born, [f"{kind}:{key}" for kind, key in nodes], None, flash, False]
        found = step.apply(entry)
        cluster_id, size = found if found is not None else (None, 1)
        members = step.index.members(name)
        assert len(members) == size
        for skus in (["FS-1"], ["FS-2"], ["FS-1", "FS-2"]):
            assert step.flash_of(name, cluster_id, sale, skus) == step.cluster_flash(list(members), sale, skus)
        if size > 1:
            young = sum(1 for m in members if step.index.born(m) is not None and step.index.born(m) > ts - 200)
            assert step.new_share(name, ts, born, size) == young / size
        # the kinds by member kept through merges, restamps, hubs and ageing (asked of this
        # account's cluster every order, of another's now and then)
        for asked in (name, f"a{(account + 7) % 15}") if n % 3 == 0 else (name,):
            fresh = [(m, sorted(step.index.shared_kinds(m))) for m in step.index.members(asked)]
            assert list(step.index.kinds_by_member(asked).items()) == fresh
            assert list(step.kinds_by_member(asked).items()) == fresh


def test_links_given_as_any_iterable_age_out_too(ClusterIndex):
    index = ClusterIndex(retention=100, sweep_every=10)
    index.link("a", iter(["device:d", "phone:p"]), 0)
    index.link("b", (n for n in ["phone:p"]), 1)
    assert index.members("a") == ["a", "b"] and index.sharing("device:d") == 1
    index.advance(500)
    assert index.size()["entities"] == 0 and index.size()["links"] == 0 and index.cluster_of("a") is None


orders = st.lists(
    st.tuples(
        st.integers(0, 25),  # account
        st.lists(st.tuples(st.sampled_from(["ip", "device", "phone"]), st.integers(0, 10)), max_size=3),
        st.integers(0, 40),  # seconds since the previous order
        st.integers(0, 100),  # how late it comes (less than retention - refresh)
    ),
    max_size=150,
)


@settings(max_examples=80, deadline=None)
@given(orders)
def test_an_index_that_spots_its_links_matches_a_spotter_feeding_an_index(ClusterIndex, sequence):
    """One process lets the index spot new links itself (ClusterIndex.spot_links); the stream
    feeds an index what a LinkSpotter passed on.  Tiny hubs and a short retention: merges,
    hubs, refreshes, sweeps and late orders all happen, and the two stay the same."""
    fed = ClusterIndex(hub_accounts=3, retention=200, sweep_every=30)
    spotter = LinkSpotter(200)
    spotting = ClusterIndex(hub_accounts=3, retention=200, sweep_every=30)
    spotting.spot_links(spotter.refresh)
    clock = 0.0
    for account, pairs, step, late in sequence:
        clock += step
        ts, who = clock - late, f"a{account}"
        nodes = [f"{kind}:{n}" for kind, n in pairs]
        passed = spotter.spot(who, nodes, ts)
        assert fed.link(who, passed, ts) == spotting.link(who, nodes, ts)
        assert fed.cluster_of(who) == spotting.cluster_of(who)
        assert fed.links_of(who) == spotting.links_of(who)
    assert spotting.passed == spotter.passed
    assert_same_graph(fed, spotting)


def test_spot_links_comes_before_any_link(ClusterIndex):
    index = ClusterIndex(retention=100)
    index.link("a", ["device:d"], 0)
    with pytest.raises(RuntimeError, match="before any link"):
        index.spot_links(25)
    with pytest.raises(ValueError, match="positive"):
        ClusterIndex(retention=100).spot_links(0)


def test_spotting_index_and_fed_index_agree_over_a_long_run_with_busy_hubs(ClusterIndex):
    import random

    r = random.Random(3)
    fed, spotter = ClusterIndex(hub_accounts=4, retention=300, sweep_every=40), LinkSpotter(300)
    spotting = ClusterIndex(hub_accounts=4, retention=300, sweep_every=40)
    spotting.spot_links(spotter.refresh)
    clock = 0.0
    for _ in range(6000):
        clock += r.random() * 2
        ts = clock - (r.random() * 100 if r.random() < 0.1 else 0.0)
        account = f"u{r.randrange(60)}"
        nodes = [f"{kind}:{r.randrange(pool)}" for kind, pool in (("ip", 6), ("device", 40), ("phone", 80))
                 if r.random() < 0.6]
        assert fed.link(account, spotter.spot(account, nodes, ts), ts) == spotting.link(account, nodes, ts)
        assert fed.cluster_of(account) == spotting.cluster_of(account)
    assert fed.hubs and spotting.passed == spotter.passed < 6000 * 1.8
    assert_same_graph(fed, spotting)


def test_a_spotting_index_forgets_the_accounts_of_a_hub_with_the_retention(ClusterIndex):
    index = ClusterIndex(hub_accounts=3, retention=100, sweep_every=10)
    index.spot_links(25)
    for n in range(1000):
        index.link(f"u{n}", ["ip:nat"], float(n))
    hub = index.hubs["ip:nat"]
    assert hub.links == 1000 and hub.seen is not None
    assert 100 <= len(hub.seen) <= 100 + 2 * 10  # only the accounts within the retention (and a sweep's lag)
