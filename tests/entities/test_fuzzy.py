"""Fuzzy address linking: disguised variants link, neighbours do not, nothing raw is kept."""

from __future__ import annotations

import collections
import pickle
import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream.entities import address_key, pseudonym
from riskstream.entities import fuzzy as address_match
from riskstream.entities.fuzzy import (
    AddressMatcher,
    AddressSignature,
    address_signature,
    signature_similarity,
)
from riskstream.sim import simulate
from riskstream.sim import world as sim

SECRETS = [b"test-secret-one", b"another key, 32 bytes long......", bytes(range(1, 65))]

HOME = "浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元1102室"
HOME_OBJ = {"country": "CN", "region": "浙江省", "city": "杭州市", "district": "西湖区",
            "street": "文三路38号锦绣华庭18栋1单元1102室", "postal_code": "310012", "recipient": "王伟"}
DORM = "北京市海淀区双清路30号清华大学紫荆公寓3号楼 205室"
OFFICE = "上海市浦东新区世纪大道100号环球金融中心A座12层"
LONG_ROAD = "北京市海淀区中关村南大街27号锦绣华庭3栋2单元501室"
PICKUP = "广东省广州市番禺区朝阳路183号兔喜生活超市"

# (what the disguise is, the address first seen, the disguised variant)
MUST_LINK = [
    ("junk after the room", HOME, HOME + "快递放门口"),
    ("Western-style junk after the room", HOME, HOME + "#A7"),
    ("junk after the room, no room word", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元1102 收"),
    ("dash junk after a bare room", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元1102-A"),
    ("digit junk after the room", HOME, HOME + " 1"),
    ("junk after a pickup point", PICKUP, PICKUP + " 收"),
    ("estate before the road", HOME, "浙江省杭州市西湖区锦绣华庭 文三路38号 18栋1单元1102室"),
    ("full-width digits, no province", HOME, "杭州市西湖区文三路３８号锦绣华庭１８栋１单元１１０２室"),
    ("Chinese numerals and a note", HOME, "浙江省杭州市西湖区文三路三十八号锦绣华庭十八栋一单元一一零二室 快递放门口"),
    ("shorthand 18#1-1102", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18#1-1102"),
    ("shorthand 18栋1-1102房", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18幢1-1102房"),
    ("courier shorthand 18-1-1102", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18-1-1102"),
    ("road name in pinyin", HOME, "浙江省杭州市西湖区 wensan lu 三十八号锦绣华庭18栋1单元1102室"),
    ("road name in pinyin, no space before the number", HOME, "杭州市西湖区wensan lu38号锦绣华庭18栋1单元1102室"),
    ("no province", HOME, "杭州市西湖区文三路38号锦绣华庭18栋1单元1102室"),
    ("no province, no city", HOME, "西湖区文三路38号锦绣华庭18栋1单元1102室"),
    ("no suffixes at all, a note", HOME, "浙江杭州西湖文三路38号锦绣华庭18栋1单元1102室 周末送货"),
    ("object form beside a disguised string", HOME_OBJ, "杭州市西湖区 文三路三十八号锦绣华庭18幢1-1102房(放门口)"),
    ("spaces and punctuation, no province", HOME, "杭州市 / 西湖区 —— 文三路 38 号 · 锦绣华庭 18 栋 1 单元 1102 室 !!"),
    ("one-character typo in a long road name", LONG_ROAD, "北京市海淀区中关材南大街27号锦绣华庭3栋2单元501室"),
    ("same dorm room, disguised", DORM, "北京海淀区双清路三十号清华大学紫荆公寓3号楼205房到了打电话"),
    ("Western: region left out", "12 Baker Street, Apt 4, London, England", "12 Baker Street, Apt 4, London"),
    ("Western: object form", {"country": "GB", "region": "England", "city": "London", "district": "",
                              "street": "12 Baker Street, Apt 4", "postal_code": "NW1 6XE"},
     "12 Baker St., Flat 4, London"),
    ("Western: postcode added", "12 Baker Street, London", "12 Baker Street, London NW1 6XE"),
    ("Western: city before the street", "12 Baker Street, London", "London, 12 Baker Street"),
    ("Western: junk after the city", "12 Baker Street, Apt 4, London", "12 Baker Street, Apt 4, London, ring twice"),
    ("Western: one-letter typo in a long street name", "221 Shaftesbury Avenue, London", "221 Shaftsbury Avenue, London"),
    ("Western: state written out", "104 Main Street, San Francisco, CA",
     {"country": "US", "region": "California", "city": "San Francisco", "street": "104 Main Street"}),
]

# (what differs, an address, its neighbour)
MUST_NOT_LINK = [
    ("another room of one dormitory building", DORM, "北京市海淀区双清路30号清华大学紫荆公寓3号楼 206室"),
    ("another room, object form", DORM, {"region": "北京市", "city": "北京市", "district": "海淀区",
                                        "street": "双清路30号清华大学紫荆公寓3号楼305室"}),
    ("another dormitory building", DORM, "北京市海淀区双清路30号清华大学紫荆公寓4号楼 205室"),
    ("another flat of one tower", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元1202室"),
    ("the flat next door, bare number", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元1103"),
    ("another entrance of one tower", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18栋2单元1102室"),
    ("courier shorthand, another flat", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18-1-1103"),
    ("courier shorthand, another entrance", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18-2-1102"),
    ("a building letter is a number: a栋 is not b栋", OFFICE, "上海市浦东新区世纪大道100号环球金融中心B座12层"),
    ("another tower of one estate", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭19栋1单元1102室"),
    ("the tower without a flat", HOME, "浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元"),
    ("another street number on one street", HOME, "浙江省杭州市西湖区文三路39号锦绣华庭18栋1单元1102室"),
    ("another district", HOME, "浙江省杭州市拱墅区文三路38号锦绣华庭18栋1单元1102室"),
    ("another city", HOME, "江苏省苏州市西湖区文三路38号锦绣华庭18栋1单元1102室"),
    ("another road and estate, same numbers", HOME, "浙江省杭州市西湖区解放路38号翠苑小区18栋1单元1102室"),
    ("another floor of one office tower", OFFICE, "上海市浦东新区世纪大道100号环球金融中心A座13层"),
    ("another office tower", OFFICE, "上海市浦东新区世纪大道100号环球金融中心B座12层"),
    ("another locker at a pickup point", PICKUP + "1", PICKUP + "2"),
    ("Western: another flat", "12 Baker Street, Apt 4, London", "12 Baker Street, Apt 5, London"),
    ("Western: flat written as #", "12 Baker Street, Apt 4, London", "12 Baker Street #14, London"),
    ("Western: the house without a flat", "12 Baker Street, Apt 4, London", "12 Baker Street, London"),
    ("Western: another house number", "12 Baker Street, London", "14 Baker Street, London"),
    ("Western: another street", "12 Baker Street, London", "12 Oxford Road, London"),
    ("Western: another city", "12 High Street, London", "12 High Street, Manchester"),
    ("Western: New York is not New South Wales", "150 Park Lane, New York, NY",
     {"country": "AU", "region": "New South Wales", "city": "Sydney NSW", "street": "150 Park Lane"}),
]


def _ids(cases):
    return [c[0] for c in cases]


@pytest.mark.parametrize("secret", SECRETS, ids=["key1", "key2", "key3"])
@pytest.mark.parametrize(("case", "first", "variant"), MUST_LINK, ids=_ids(MUST_LINK))
def test_disguised_variant_links(case, first, variant, secret):
    a, b = address_signature(first, secret), address_signature(variant, secret)
    assert a.key != b.key, "exact keys already agree: not a fuzzy case"
    m = AddressMatcher()
    assert m.match(a, 0.0) == a.key
    assert m.match(b, 1.0) == a.key, f"{case}: similarity {signature_similarity(a, b):.2f}"
    assert m.size() == 2 and m.groups() == 1


@pytest.mark.parametrize("secret", SECRETS, ids=["key1", "key2", "key3"])
@pytest.mark.parametrize(("case", "first", "neighbour"), MUST_NOT_LINK, ids=_ids(MUST_NOT_LINK))
def test_near_miss_stays_apart(case, first, neighbour, secret):
    a, b = address_signature(first, secret), address_signature(neighbour, secret)
    assert a.key != b.key
    m = AddressMatcher()
    assert m.match(a, 0.0) == a.key
    assert m.match(b, 1.0) == b.key, case
    assert m.groups() == 2


def test_signature_key_is_the_velocity_key():
    secret = SECRETS[0]
    for raw in (HOME, HOME_OBJ, DORM, "12 Baker Street, Apt 4, London"):
        assert address_signature(raw, secret).key == pseudonym("address", address_key(raw), secret)


def test_unreadable_address_has_no_signature():
    assert address_signature("  ,.;  ", SECRETS[0]) is None
    assert address_signature(None, SECRETS[0]) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        address_signature(HOME, b"")


_ADDRESSY = st.text(alphabet=st.sampled_from(list("0123456789０１２三十号栋幢座单元室房层楼#-, ()（）路街大道花园省市区县")
                                             + list("abcAPT ")), max_size=40)


@given(st.one_of(st.text(max_size=60), _ADDRESSY,
                 st.dictionaries(st.sampled_from(["region", "city", "district", "street"]), _ADDRESSY)))
@settings(max_examples=300, deadline=None)
def test_any_text_gives_a_signature_or_none_and_matches(raw):
    sig = address_signature(raw, SECRETS[0])
    if address_key(raw) is None:
        assert sig is None
        return
    assert AddressSignature.from_data(orjson.loads(orjson.dumps(sig.to_data()))) == sig
    m = AddressMatcher()
    assert m.match(sig, 0.0) == sig.key
    assert m.match(sig, 1.0) == sig.key


# --------------------------------------------------------------- configuration


def test_guard_none_merges_rooms_of_one_building_but_not_buildings():
    secret = SECRETS[0]
    rooms = [address_signature(f"北京市海淀区双清路30号清华大学紫荆公寓3号楼 {r}室", secret) for r in (205, 206, 512)]
    other = address_signature("北京市海淀区双清路30号清华大学紫荆公寓4号楼 205室", secret)
    by_building = AddressMatcher(guard="none")
    assert {by_building.match(s, 0.0) for s in rooms} == {rooms[0].key}
    assert by_building.match(other, 0.0) == other.key
    by_unit = AddressMatcher()
    assert [by_unit.match(s, 0.0) for s in rooms] == [s.key for s in rooms]


def test_similarity_threshold_is_configurable():
    secret = SECRETS[0]
    typo = address_signature(LONG_ROAD, secret), address_signature(LONG_ROAD.replace("村", "材"), secret)
    other_road = address_signature(HOME, secret), address_signature(HOME.replace("文三路", "解放路").replace(
        "锦绣华庭", "翠苑小区"), secret)
    for (a, b), links in ((typo, {1.0: False, 0.7: True}), (other_road, {0.7: False, 0.0: True})):
        for similarity, expected in links.items():
            m = AddressMatcher(similarity=similarity)
            m.match(a, 0.0)
            assert (m.match(b, 0.0) == a.key) is expected, (similarity, signature_similarity(a, b))


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="similarity"):
        AddressMatcher(similarity=1.5)
    with pytest.raises(ValueError, match="guard"):
        AddressMatcher(guard="floor")
    with pytest.raises(ValueError):
        AddressMatcher(retention=0)


# ---------------------------------------------------------- determinism, JSON


def test_signature_is_deterministic_and_travels_as_json():
    for secret in SECRETS:
        for raw in (HOME, HOME_OBJ, "12 Baker Street, Apt 4, London"):
            sig = address_signature(raw, secret)
            data = orjson.loads(orjson.dumps(sig.to_data()))
            assert AddressSignature.from_data(data) == sig
            address_match._signature.cache_clear()  # computed again, not remembered
            assert address_signature(raw, secret) == sig
    with pytest.raises(ValueError):
        AddressSignature.from_data(["k", "n", None, [None, None], [], [1, 2], 2])


def test_tags_depend_on_the_secret():
    a, b = (address_signature(HOME, s) for s in SECRETS[:2])
    assert a.key != b.key and a.numbers != b.numbers
    assert len(a.tags) == len(b.tags) > 10
    assert len(set(a.tags) & set(b.tags)) < 2  # unrelated without the same key


def test_similarity_is_the_exact_containment_of_name_shingles():
    a = address_signature(LONG_ROAD, SECRETS[0])
    b = address_signature(LONG_ROAD.replace("村", "材"), SECRETS[0])
    # 中关村南大街 / 锦绣华庭: 10 characters and 8 pairs; the typo changes 1 character and 2 pairs
    assert a.shingles == b.shingles == 18
    assert signature_similarity(a, b) == pytest.approx(15 / 18)
    assert signature_similarity(a, a) == 1.0


def test_bad_signature_data_is_refused():
    good = address_signature(HOME, SECRETS[0]).to_data()
    with pytest.raises(ValueError, match="fields"):
        AddressSignature.from_data(good[:5])
    with pytest.raises(ValueError, match="locality"):
        AddressSignature.from_data(good[:3] + [[None, None]] + good[4:])
    with pytest.raises(ValueError, match="tags"):
        AddressSignature.from_data(good[:5] + [list(range(address_match.MAX_TAGS + 1))])


def _ring_like_stream(secret):
    variants = [v for _, f, v in MUST_LINK] + [f for _, f, _ in MUST_LINK] + [n for _, _, n in MUST_NOT_LINK]
    return [address_signature(v, secret) for v in variants]


def test_same_arrival_order_same_representatives():
    sigs = _ring_like_stream(SECRETS[1])
    runs = []
    for _ in range(2):
        m = AddressMatcher()
        runs.append([m.match(s, float(i)) for i, s in enumerate(sigs)])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) < len({s.key for s in sigs})  # some linked


# ------------------------------------------------------------ bounded memory


def test_groups_expire_after_retention_of_event_time():
    secret = SECRETS[0]
    a = address_signature(HOME, secret)
    b = address_signature(HOME + "快递放门口", secret)
    other = address_signature(DORM, secret)
    m = AddressMatcher(retention=3600.0)
    m.match(a, 0.0)
    assert m.match(b, 3000.0) == a.key  # touched: kept
    m.match(other, 3000.0 + 3599.0)
    assert m.size() == 3 and a.key in m
    m.match(other, 3000.0 + 3601.0)  # the home group was last seen 3601 s ago
    assert m.size() == 1 and m.groups() == 1
    assert a.key not in m and b.key not in m and other.key in m
    assert m.match(b, 7000.0) == b.key  # starts a new group of its own


def test_late_events_do_not_move_time_back():
    secret = SECRETS[0]
    m = AddressMatcher(retention=10.0)
    m.match(address_signature(DORM, secret), 100.0)
    m.match(address_signature(HOME, secret), 50.0)  # late: older than the watermark
    assert m.groups() == 2
    m.match(address_signature(OFFICE, secret), 111.0)
    assert m.groups() == 1  # both are past retention of the watermark


def test_group_count_is_bounded():
    secret = SECRETS[0]
    m = AddressMatcher(max_groups=50, max_members=4)
    for i in range(300):
        m.match(address_signature(f"浙江省杭州市西湖区文三路{i + 1}号锦绣华庭18栋1单元1102室", secret), float(i))
        for junk in ("收", "快递放门口", "#A7", " 1", "(放门口)", "-A"):
            m.match(address_signature(f"浙江省杭州市西湖区文三路{i + 1}号锦绣华庭18栋1单元1102室{junk}", secret), float(i))
    assert m.groups() == 50
    assert m.size() <= 50 * 4
    newest = address_signature("浙江省杭州市西湖区文三路300号锦绣华庭18栋1单元1102室", secret)
    oldest = address_signature("浙江省杭州市西湖区文三路1号锦绣华庭18栋1单元1102室", secret)
    assert newest.key in m and oldest.key not in m


# ------------------------------------------------------------------- privacy

_HEX = re.compile(r"[0-9a-f]+")
_ALL_RAW = [raw for case in MUST_LINK + MUST_NOT_LINK for raw in case[1:]]


def _fragments(raw) -> set[bytes]:
    """Pieces of an address a leak would show: CJK character pairs, words, canonical key."""
    text = raw if isinstance(raw, str) else " ".join(v for v in raw.values() if v)
    out = {address_key(raw).encode()}
    for run in re.findall(r"[\u4e00-\u9fff]{2,}", text):
        out.update(run[i : i + 2].encode() for i in range(len(run) - 1))
    out.update(w.lower().encode() for w in re.findall(r"[A-Za-z]{4,}", text))
    out.update(w.encode() for w in re.findall(r"[A-Za-z]{4,}", text))
    return out


def test_signatures_hold_only_pseudonyms_and_numbers():
    for raw in _ALL_RAW:
        sig = address_signature(raw, SECRETS[0])
        for text in (sig.key, sig.numbers, sig.unit, *sig.locality, *sig.place):
            assert text is None or _HEX.fullmatch(text)
        assert all(isinstance(x, int) and 0 <= x < 2**32 for x in sig.tags) and list(sig.tags) == sorted(sig.tags)


def test_matcher_state_holds_no_address_text():
    m = AddressMatcher()
    for i, s in enumerate(_ring_like_stream(SECRETS[0])):
        m.match(s, float(i))
    assert m.size() > 40
    state = pickle.dumps(m)
    fragments = set().union(*map(_fragments, _ALL_RAW))
    assert len(fragments) > 100
    leaked = sorted(f.decode() for f in fragments if f in state)
    assert not leaked


# ---------------------------------------------- against the simulator's truth


def test_simulated_traffic_links_ring_drops_and_merges_no_strangers(monkeypatch):
    """Rings' disguised drop addresses collapse; no group mixes two real addresses."""
    truth: dict[str, set] = collections.defaultdict(set)
    render, disguise, disguise_more = sim.Gen.render, sim.Gen.disguise, sim.Gen.disguise_more

    def recorded(original):
        def wrapper(self, parts, *args):
            out = original(self, parts, *args)
            truth[address_key(out)].add(parts[:9])  # the address, without postcode
            return out
        return wrapper

    monkeypatch.setattr(sim.Gen, "render", recorded(render))
    monkeypatch.setattr(sim.Gen, "disguise", recorded(disguise))
    monkeypatch.setattr(sim.Gen, "disguise_more", recorded(disguise_more))
    events = list(simulate(6000, seed=3))
    secret = SECRETS[2]
    m = AddressMatcher()
    members: dict[str, set[str]] = collections.defaultdict(set)
    ring_keys, hard_keys = set(), set()
    for ev in events:
        sig = address_signature(ev["shipping_address"], secret)
        key = address_key(ev["shipping_address"])
        members[m.match(sig, 0.0)].add(key)
        if ev["scenario"] in ("aged_ring", "sim_farm"):
            hard_keys.add(key)
        if ev["scenario"] == "ring":
            ring_keys.add(key)
    for keys in members.values():
        known = [frozenset(truth[k]) for k in keys if k in truth]
        assert len(set(known)) <= 1, [k for k in keys]
        if len(keys) > 1:
            assert len(known) == len(keys), keys  # only rendered homes are ever disguised
    ring_groups = {rep for rep, keys in members.items() if keys & ring_keys}
    drops = {frozenset(truth[k]) for k in ring_keys}
    assert len(ring_keys) > 3 * len(drops)  # the disguises are real
    assert len(ring_groups) <= 1.25 * len(drops)
    # The aged rings' and SIM farms' drops also come in pinyin, with typos and as 5-2-1102:
    # most of their orders still land in their drop's largest group.
    hard_groups = {rep for rep, keys in members.items() if keys & hard_keys}
    hard_drops = {frozenset(truth[k]) for k in hard_keys}
    assert len(hard_groups) <= 0.5 * len(hard_keys) and len(hard_groups) <= 3 * len(hard_drops)
    rep_of = {key: rep for rep, keys in members.items() for key in keys}
    by_drop: dict[frozenset, collections.Counter] = collections.defaultdict(collections.Counter)
    for ev in events:
        key = address_key(ev["shipping_address"])
        if ev["scenario"] in ("aged_ring", "sim_farm") and len(truth[key]) == 1:
            by_drop[frozenset(truth[key])][rep_of[key]] += 1
    in_main = sum(c.most_common(1)[0][1] for c in by_drop.values()) / sum(sum(c.values()) for c in by_drop.values())
    assert in_main >= 0.9
