"""The native ClusterIndex against its oracle, the pure-Python index.

Random link streams (accounts and entities from small pools so that they
share, hubs from low limits, time that jumps past the retention so links age
out, and late links) go to both indexes, which must report the same changes
and answer every query alike after every step.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream.graph import ClusterIndex, Hub, cluster_id_of

try:
    import riskstream_native
except ImportError:
    riskstream_native = None

pytestmark = pytest.mark.skipif(riskstream_native is None, reason="native core not installed (pip install ./native)")

KINDS = ["ip", "device", "phone", "address"]

links = st.lists(
    st.tuples(
        st.integers(0, 11),  # account
        st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 6)), max_size=4),  # nodes
        st.integers(-30, 120),  # seconds after the previous link (negative: a late one)
        st.one_of(st.none(), st.integers(0, 1000)),  # born
    ),
    max_size=120,
)


def hubs(index):
    return {n: (h.node, h.first_seen, h.last_seen, h.accounts, h.links, h.seen) for n, h in index.hubs.items()}


def answers(index, accounts, nodes):
    """Everything a caller can ask of an index."""
    out = {"clusters": index.clusters(), "size": index.size(), "hubs": hubs(index), "watermark": index.watermark,
           "rebuilds": index.rebuilds, "passed": index.passed}
    for a in accounts:
        out[a] = (index.cluster_of(a), list(index.members(a)), index.lineage(a), index.serial(a),
                  index.members_from(a, 1), index.links_of(a), index.stamp(a), index.shared_kinds(a),
                  dict(index.kinds_by_member(a)), index.born(a), list(index.members_born(a)), index.first_seen(a))
    for n in nodes:
        out[n] = (index.accounts_of(n), index.sharing(n), index.hub_limit(n))
    for cid, members in out["clusters"]:
        assert index.find_cluster(cid) == members
    return out


@settings(max_examples=300, deadline=None)
@given(stream=links, limit=st.integers(2, 5), retention=st.sampled_from([100.0, 400.0]),
       spot=st.sampled_from([0.0, 30.0]), per_kind=st.booleans())
def test_both_indexes_answer_alike(stream, limit, retention, spot, per_kind):
    options = {"hub_accounts": limit, "retention": retention, "sweep_every": retention / 5}
    if per_kind:
        options["hubs"] = {"ip": limit + 1, "address": 2}
    pure = ClusterIndex(**options)
    twin = riskstream_native.ClusterIndex(cluster_id_of, Hub, **options)
    if spot:
        pure.spot_links(spot)
        twin.spot_links(spot)
    t = 0.0
    accounts = [f"a{n}" for n in range(12)]
    nodes = [f"{k}:{n}" for k in KINDS for n in range(7)]
    for n, (account, picked, step, born) in enumerate(stream):
        t += step
        linked = [f"{k}:{v}" for k, v in picked]
        born = None if born is None else float(born)
        assert twin.link(f"a{account}", linked, t, born) == pure.link(f"a{account}", linked, t, born)
        if n % 7 == 0:
            assert answers(twin, accounts, nodes) == answers(pure, accounts, nodes)
    twin.advance(t + retention / 2)
    pure.advance(t + retention / 2)
    assert answers(twin, accounts, nodes) == answers(pure, accounts, nodes)
    assert twin.sweep() == pure.sweep()
    assert answers(twin, accounts, nodes) == answers(pure, accounts, nodes)


def test_kinds_by_member_is_the_same_object_while_the_cluster_is_unchanged():
    twin = riskstream_native.ClusterIndex(cluster_id_of, Hub, retention=1000.0)
    twin.link("a", ["device:1"], 0.0)
    twin.link("b", ["device:1"], 1.0)
    first = twin.kinds_by_member("a")
    assert twin.kinds_by_member("b") is first
    twin.link("c", ["device:1", "phone:9"], 2.0)
    assert twin.kinds_by_member("a") is not first and list(twin.kinds_by_member("a")) == ["a", "b", "c"]


def test_bad_options_are_refused_with_what_was_expected():
    with pytest.raises(ValueError, match="at least 2"):
        riskstream_native.ClusterIndex(cluster_id_of, Hub, hub_accounts=1)
    twin = riskstream_native.ClusterIndex(cluster_id_of, Hub)
    with pytest.raises(ValueError, match="positive"):
        twin.spot_links(0)
    twin.link("a", ["device:1"], 0.0)
    with pytest.raises(RuntimeError, match="before any link"):
        twin.spot_links(10)
    with pytest.raises(TypeError):
        twin.link("a", [1], 0.0)
