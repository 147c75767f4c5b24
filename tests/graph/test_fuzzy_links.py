"""graph.fuzzy_addresses: disguised variants of one drop address link accounts; other flats do not."""

import pytest

from riskstream.entities.fuzzy import address_signature
from riskstream.events import parse_order
from riskstream.rules import RuleFileError
from riskstream.testing import engine_for, make_order

HOME = "浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元1102室"
DISGUISED = [HOME + "快递放门口", "浙江省杭州市西湖区锦绣华庭 文三路38号 18栋1单元1102室", "浙江省杭州市西湖区文三路38号锦绣华庭18#1-1102"]
NEXT_DOOR = "浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元1202室"


def graph_rules(fuzzy: str) -> str:
    return f"""
ruleset: {{version: f, thresholds: {{review: 40, hold: 80}}}}
graph: {{links: [address]{fuzzy}}}
rules:
  - id: ring
    cluster: {{size: {{ge: 4}}}}
    score: 80
"""


def decide_all(engine, addresses):
    decisions = []
    for n, address in enumerate(addresses):
        order = make_order(t=60.0 * n, account_id=f"acct-{n}", shipping_address=address)
        decisions.append(engine.decide(parse_order(order)))
    return decisions


def test_disguised_variants_link_only_with_fuzzy_addresses():
    addresses = [HOME, *DISGUISED]
    exact = decide_all(engine_for(graph_rules("")), addresses)
    assert [d.action.label for d in exact] == ["allow"] * 4  # four exact keys: four clusters of one
    fuzzy_engine = engine_for(graph_rules(", fuzzy_addresses: {similarity: 0.7}"))
    fuzzy = decide_all(fuzzy_engine, addresses)
    assert fuzzy[-1].action.label == "hold" and fuzzy[-1].cluster["size"] == 4
    assert fuzzy[0].cluster_id is None  # alone when it was decided
    assert len({d.cluster_id for d in fuzzy[1:]}) == 1 and [d.cluster["size"] for d in fuzzy[1:]] == [2, 3, 4]


def test_another_flat_of_the_tower_does_not_link():
    engine = engine_for(graph_rules(", fuzzy_addresses: {similarity: 0.7, guard: unit}"))
    decisions = decide_all(engine, [HOME, *DISGUISED[:2], NEXT_DOOR])
    assert decisions[2].cluster["size"] == 3
    assert decisions[3].cluster_id is None  # next door stays alone


def test_the_graph_keys_addresses_like_the_rules():
    engine = engine_for(graph_rules(", fuzzy_addresses: {}"))
    view = engine.view(parse_order(make_order(shipping_address=HOME)))
    assert address_signature(HOME, engine.keys.secret).key == view.entity("address")


def test_bad_fuzzy_settings_are_refused_with_the_field():
    with pytest.raises(RuleFileError) as caught:
        engine_for(graph_rules(", fuzzy_addresses: {similarity: 1.5}"))
    assert "fuzzy_addresses.similarity" in str(caught.value)


def test_one_process_and_the_stream_path_link_alike():
    """observe() (one process: a held address skips its signature) and entry()/apply()
    (the stream's path: every signature as JSON data) give every order the same cluster."""
    import orjson

    from riskstream.engine.clusters import GraphStep
    from riskstream.sim import simulate

    engine = engine_for(graph_rules(", fuzzy_addresses: {similarity: 0.7}"))
    settings, secret = engine.ruleset.graph, engine.keys.secret
    one, stream = GraphStep(settings, engine.sales, secret), GraphStep(settings, engine.sales, secret)
    found_one, found_stream = [], []
    for event in simulate(4000, seed=7):
        view = engine.view(parse_order(event))
        one.observe(view)
        found_one.append(None if view.cluster.id is None else (view.cluster.id, view.cluster.size))
        entry = orjson.loads(orjson.dumps(stream.entry(engine.view(parse_order(event)))))
        found_stream.append(stream.apply(entry))
    found_stream = [None if f is None else tuple(f) for f in found_stream]
    assert found_one == found_stream
    assert sum(f is not None and f[1] > 1 for f in found_one) > 100  # addresses did link accounts
    assert one.matcher.groups() == stream.matcher.groups() < one.matcher.size()  # some variants grouped
