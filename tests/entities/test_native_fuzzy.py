"""The native fuzzy-address parse and tags equal the pure-Python oracle, for any street;
the native one-call signature equals the pure-Python one for any address; and the native
matcher decides as the pure-Python one for any arrival order."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream import native
from riskstream.entities import address_key
from riskstream.entities import fuzzy as F
from riskstream.sim import simulate

try:
    import riskstream_native
except ImportError:
    riskstream_native = None

pytestmark = pytest.mark.skipif(riskstream_native is None, reason="native core not installed (pip install ./native)")

SECRET = b"native fuzzy twin test"

# What the parse reacts to: digits, letters, place words, unit words, spaces, "apt", the
# characters around them; and names of a few characters.
_PIECES = (list("0123456789") + list("abcxyz") + list("号栋元层楼弄期组室单座幢") + [" ", "apt ", " apt ", "单元"]
           + list("路街大道花园锦绣华庭文三中关村南") + ["号号", "-", "·", "\u3000", "\t", "𠀀", "é"])
streets = st.lists(st.sampled_from(_PIECES), max_size=24).map("".join)
anything = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=40)  # keys hold no newline


def _oracle(street: str) -> tuple[str, str | None, tuple[int, ...]]:
    numbers, unit, shingles = F._chinese_block(street)
    with native.pure_python():
        return numbers, unit, F._Tagger(SECRET).tags(set(shingles))


def _native(street: str) -> tuple[str, str | None, tuple[int, ...]]:
    tagger = F._Tagger(SECRET)
    assert tagger._native is not None
    numbers, unit, tags = tagger._native.chinese(street)
    return numbers, unit, tuple(tags)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(streets, anything))
def test_native_block_of_any_street_equals_the_python_one(street):
    assert _native(street) == _oracle(street)


@settings(max_examples=300, deadline=None)
@given(st.one_of(streets, anything))
def test_native_keyed_block_equals_the_python_one(street):
    tagger = F._Tagger(SECRET)
    native_block = tagger.block(street)
    with native.pure_python():
        assert tagger.block(street) == native_block
    numbers, unit, _ = F._chinese_block(street)
    assert native_block[:2] == F._block_pseudonyms(numbers, unit, SECRET)


@settings(max_examples=500, deadline=None)
@given(streets)
def test_native_block_of_canonical_streets_equals_the_python_one(street):
    key = address_key(street)
    if key:
        assert _native(key) == _oracle(key)


@pytest.mark.parametrize("street", [
    "文三路38号锦绣华庭18栋1单元1102室", "文三路38号锦绣华庭18栋1单元1102", "锦绣华庭18栋2 1502", "29号4 3002 1",
    "朝阳路183号兔喜生活超市1", "菜鸟驿站 12a", "科技园路229号碧水湾30号1 204室", "中山路3号apt a7", "a3号b栋",
    "88号1502号", "2栋1603号 1", "2栋1603号 123", "幸福里29", "abc号", "文三路38号 apt 7 apt 9", "",
])
def test_native_block_of_known_streets(street):
    assert _native(street) == _oracle(street)


def test_signatures_and_decisions_equal_on_both_paths():
    """A simulated day's addresses: the same signatures natively and in pure Python, and a
    matcher fed either makes the same groups."""
    texts = [e["shipping_address"] for e in simulate(3000, seed=5)]
    F._signature.cache_clear()
    F._tagger.cache_clear()
    with native.pure_python():
        oracle = [F.address_signature(t, SECRET) for t in texts]
    F._signature.cache_clear()
    F._tagger.cache_clear()
    fast = [F.address_signature(t, SECRET) for t in texts]
    assert F._tagger(SECRET)._native is not None
    assert fast == oracle
    reps = []
    for sigs, m in ((oracle, F.AddressMatcher()), (fast, _native_matcher())):
        reps.append([m.match(s, float(i)) for i, s in enumerate(sigs) if s is not None])
    assert reps[0] == reps[1]
    assert len(set(reps[0])) < len(reps[0])  # some linked


def test_the_native_tagger_refuses_bad_subkeys():
    with pytest.raises(ValueError, match="1 to 64 bytes"):
        riskstream_native.AddressTagger(b"")
    with pytest.raises(ValueError, match="1 to 64 bytes"):
        riskstream_native.AddressTagger(b"k" * 65)
    with pytest.raises(ValueError, match="pseudonym key"):
        riskstream_native.AddressTagger(b"k", b"")
    with pytest.raises(ValueError, match="no pseudonym key"):
        riskstream_native.AddressTagger(b"k").block("文三路38号")


# ------------------------------------------------------- whole signatures in one call

_HEADS = ["", "浙江省杭州市西湖区", "杭州市西湖区", "西湖区", "浙江杭州西湖", "北京市海淀区", "广东省广州市番禺区 ",
          "上海市浦东新区", "内蒙古自治区呼和浩特市新城区", "12 Baker Street, ", "Apt 4, ", "湖北省武汉市"]
_TAILS = ["", "快递放门口", "#A7", " 1", "(放门口)", "-A", ", London", ", New York, NY", " 收"]
addresses = st.tuples(st.sampled_from(_HEADS), st.one_of(streets, anything), st.sampled_from(_TAILS)).map("".join)


def _both(text: str, key: str | None = None):
    """A text's signature natively (one call) and in pure Python, without the caches."""
    fast = F._signature.__wrapped__(text, SECRET, key)
    with native.pure_python():
        oracle = F._signature.__wrapped__(text, SECRET, key)
    return fast, oracle


@settings(max_examples=1500, deadline=None)
@given(addresses)
def test_native_signature_of_any_address_equals_the_python_one(text):
    fast, oracle = _both(text)
    assert fast == oracle
    assert type(fast) is type(oracle)


@settings(max_examples=200, deadline=None)
@given(addresses, st.sampled_from([None, "", "0123456789abcdef0123"]))
def test_native_signature_takes_the_key_pseudonym_as_python_does(text, key):
    fast, oracle = _both(text, key)
    assert fast == oracle


def test_the_native_signature_is_one_call_for_chinese_addresses_only():
    tagger = F._tagger(SECRET)
    key, locality = F.address_head("浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元1102室")
    sig = tagger._native.signature(key, *locality)
    assert type(sig) is F.AddressSignature and sig.key == F.pseudonym("address", key, SECRET)
    assert tagger._native.signature("12 baker st apt 4", "", "", "") is None  # Western: signed in Python
    assert tagger._native.signature(key, "江苏", "", "") is None  # the key does not start with its head
    with pytest.raises(ValueError, match="signature class"):
        riskstream_native.AddressTagger(b"k", b"k").signature(key, *locality)


# ------------------------------------------------------------------- the matcher twin

def _native_matcher(**options):
    with_core = F.new_address_matcher(**options)
    assert type(with_core) is riskstream_native.AddressMatcher
    return with_core


_words = st.sampled_from([None, "a", "b"])
signatures = st.builds(
    F.AddressSignature,
    key=st.sampled_from([f"k{i}" for i in range(12)]),
    numbers=st.sampled_from(["n1", "n2"]),
    unit=st.sampled_from([None, "u1", "u2"]),
    locality=st.tuples(_words, _words, _words),
    place=st.lists(st.sampled_from(["p", "q", "r"]), max_size=2).map(tuple),
    tags=st.lists(st.integers(0, 12), max_size=8).map(lambda xs: tuple(sorted(xs))),
)
# a step: match a signature, or look a key up, at a time that mostly moves on (sometimes back)
steps = st.lists(st.tuples(st.booleans(), signatures, st.floats(-3.0, 6.0)), max_size=60)
options = st.fixed_dictionaries({
    "similarity": st.sampled_from([0.0, 0.5, 0.7, 1.0]), "guard": st.sampled_from(["unit", "none"]),
    "retention": st.sampled_from([2.0, 10.0, 1e9]), "max_groups": st.integers(1, 6),
    "max_members": st.integers(1, 3), "scan_limit": st.integers(1, 3)})


@settings(max_examples=1500, deadline=None)
@given(options, steps)
def test_native_matcher_decides_as_the_python_one(opts, steps):
    """Any arrival order, any options: the same representatives, lookups, sizes and evictions."""
    pure, fast = F.AddressMatcher(**opts), _native_matcher(**opts)
    ts = 0.0
    for lookup, sig, dt in steps:
        ts += dt
        if lookup:
            assert fast.match_key(sig.key, ts) == pure.match_key(sig.key, ts)
        else:
            assert fast.match(sig, ts) == pure.match(sig, ts)
        assert (fast.size(), fast.groups()) == (pure.size(), pure.groups())
        assert (sig.key in fast) == (sig.key in pure)


def test_native_matcher_refuses_what_the_python_one_refuses():
    for bad in ({"similarity": 1.5}, {"guard": "floor"}, {"retention": 0}, {"max_groups": 0}, {"scan_limit": 0}):
        with pytest.raises(ValueError) as pure_error:
            F.AddressMatcher(**bad)
        with pytest.raises(ValueError) as native_error:
            riskstream_native.AddressMatcher(**bad)
        assert str(native_error.value).split(",")[0] == str(pure_error.value).split(",")[0]
    m = _native_matcher()
    with pytest.raises(ValueError, match="not an address signature"):
        m.match(("k", "n", None, (None, None, None), (), (2**32,)), 0.0)
    with pytest.raises(ValueError, match="32-bit"):
        F.AddressSignature.from_data(["k", "n", None, [None, None, None], [], [2**32]])
    assert repr(m) == repr(F.AddressMatcher())


def test_native_matcher_on_a_simulated_day_equals_the_python_one():
    texts = [e["shipping_address"] for e in simulate(4000, seed=7)]
    sigs = [s for s in (F.address_signature(t, SECRET) for t in texts) if s is not None]
    pure, fast = F.AddressMatcher(retention=600.0), _native_matcher(retention=600.0)
    reps = [(pure.match(s, i * 0.5), fast.match(s, i * 0.5)) for i, s in enumerate(sigs)]
    assert [a for a, _ in reps] == [b for _, b in reps]
    assert len({a for a, _ in reps}) < len({s.key for s in sigs})  # some linked
    assert (fast.size(), fast.groups()) == (pure.size(), pure.groups())


_DAY = [e["shipping_address"] for e in simulate(1500, seed=9)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(addresses, st.sampled_from(_DAY)), min_size=1, max_size=30), st.sampled_from(["unit", "none"]))
def test_match_address_in_one_native_call_decides_as_python(raws, guard):
    """Signed and matched in one native call, or in Python: the same representatives."""
    fast = _native_matcher(guard=guard, retention=20.0)
    pure = F.AddressMatcher(guard=guard, retention=20.0)
    for i, raw in enumerate(raws + raws[::-1]):
        key = address_key(raw)
        if key is None:
            continue
        key = F.pseudonym("address", key, SECRET)
        with native.pure_python():
            sig = F.address_signature(raw, SECRET, key, cached=False)
            expected = key if sig is None else pure.match(sig, i * 3.0)
        assert F.match_address(fast, raw, SECRET, key, i * 3.0) == expected
        assert (fast.size(), fast.groups()) == (pure.size(), pure.groups())


def test_match_address_on_a_simulated_day_takes_the_one_call_path():
    sigs_made = []
    original = F.address_signature

    def counting(*args, **kwargs):
        sigs_made.append(args[0])
        return original(*args, **kwargs)

    fast, pure = _native_matcher(), F.AddressMatcher()
    reps = []
    try:
        F.address_signature = counting
        for i, raw in enumerate(_DAY):
            key = F.pseudonym("address", address_key(raw), SECRET)
            reps.append(F.match_address(fast, raw, SECRET, key, float(i)))
    finally:
        F.address_signature = original
    with native.pure_python():
        expected = [F.match_address(pure, raw, SECRET, F.pseudonym("address", address_key(raw), SECRET), float(i))
                    for i, raw in enumerate(_DAY)]
    assert reps == expected
    assert len(set(reps)) < len(reps)
    # only addresses the native call does not sign (Western ones) make a Python signature
    assert sigs_made and all(not F._HAS_IDEO(raw if isinstance(raw, str) else " ".join(raw.values())) for raw in sigs_made)
