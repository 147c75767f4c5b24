"""The abuse families that do not lean on new accounts, the benign repeat buyers, and the run's knobs."""

from collections import defaultdict
from datetime import datetime

import pytest

from riskstream import sim
from riskstream.entities import address_key, phone_key
from riskstream.sim.knobs import Knobs

N = 40_000


@pytest.fixture(scope="module")
def events():
    return list(sim.simulate(N, seed=7))


def _days_old(e):
    return (datetime.fromisoformat(e["event_time"]) - datetime.fromisoformat(e["account_created_at"])).days


def by(events, scenario):
    return [e for e in events if e["scenario"] == scenario]


def test_knobs_differ_by_seed_and_repeat_for_a_seed():
    draws = {Knobs.draw(seed) for seed in range(20)}
    assert len(draws) == 20 and Knobs.draw(3) == Knobs.draw(3)
    sizes = {k.aged_ring_size for k in draws}
    assert len(sizes) > 5 and all(lo < hi for lo, hi in sizes)


def test_aged_rings_are_old_accounts_on_one_network_buying_one_unit_each(events):
    ring = by(events, "aged_ring")
    assert ring and all(_days_old(e) >= 60 for e in ring)
    assert all(sum(i["quantity"] for i in e["items"]) == 1 and e.get("sale_id") == sim.SALE_ID for e in ring)
    accounts_per_prefix = defaultdict(set)
    for e in ring:
        accounts_per_prefix[e["ip"].rsplit(".", 1)[0]].add(e["account_id"])
    assert max(len(a) for a in accounts_per_prefix.values()) >= 6  # one /24 per ring
    spellings = defaultdict(set)
    for e in ring:
        text = e["shipping_address"] if isinstance(e["shipping_address"], str) else e["shipping_address"]["street"]
        spellings[e["ip"].rsplit(".", 1)[0]].add(text)
    assert max(len(s) for s in spellings.values()) >= 4  # one drop, written many ways


def test_sim_farms_share_few_numbers_typed_every_way(events):
    farm = by(events, "sim_farm")
    assert farm and all(3 <= _days_old(e) <= 31 for e in farm)
    written = defaultdict(set)
    accounts = defaultdict(set)
    for e in farm:
        key = phone_key(e["phone"])
        assert key is not None and key.startswith("+86"), e["phone"]
        written[key].add(e["phone"])
        accounts[key].add(e["account_id"])
    assert max(len(w) for w in written.values()) >= 4
    assert max(len(a) for a in accounts.values()) >= 3


def test_multi_account_resellers_buy_once_per_account(events):
    resold = by(events, "multi_reseller")
    per_account = defaultdict(int)
    for e in resold:
        per_account[e["account_id"]] += 1
    assert resold and max(per_account.values()) == 1
    accounts_per_card = defaultdict(set)
    for e in resold:
        accounts_per_card[e["payment_fingerprint"]].add(e["account_id"])
    assert max(len(a) for a in accounts_per_card.values()) >= 3


def test_disguised_drops_include_pinyin_typos_full_width_and_compact_units(events):
    texts = [e["shipping_address"] if isinstance(e["shipping_address"], str) else e["shipping_address"]["street"]
             for e in by(events, "aged_ring") + by(events, "sim_farm")]
    assert any(" lu " in t for t in texts)  # pinyin road
    assert any(any("０" <= ch <= "９" for ch in t) for t in texts)  # full-width digits
    assert sum(1 for t in texts if "-" in t and "单元" not in t) > 5  # 5-2-1102
    keys = {address_key(t) for t in texts}
    assert None not in keys


def test_repeat_buyers_are_benign_established_and_busy(events):
    repeat = by(events, "repeat_buyer")
    orders = defaultdict(int)
    for e in repeat:
        assert e["label"] == 0 and _days_old(e) >= 120
        orders[e["account_id"]] += 1
    assert max(orders.values()) >= 4 and min(orders.values()) >= 1
