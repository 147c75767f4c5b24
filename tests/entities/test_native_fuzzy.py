"""The native fuzzy-address parse and tags equal the pure-Python oracle, for any street,
and the whole signature and the matcher's decisions are the same on both paths."""

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
    for sigs in (oracle, fast):
        m = F.AddressMatcher()
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
