"""Each kind's keyer gives what EntityKeys.key gives (same pseudonym, same error), and the
engine's per-order window counting gives what each tracker's touch gives."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream import native
from riskstream.engine.order_view import EntityKeys
from riskstream.events import EventError

KINDS = ("ip", "ip_prefix", "device", "phone", "payment", "address")

raw_values = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.sampled_from(["203.0.113.7", " 203.0.113.7 ", "2001:DB8::1", "::ffff:10.0.0.1", "999.1.1.1", "",
                     "13800138000", "+86 138-0013-8000", "上海市浦东新区世纪大道100号", "  card-1 ", "\u00a0"]),
    st.integers(-5, 2**40),
    st.dictionaries(st.sampled_from(["region", "city", "district", "street"]), st.text(max_size=8), max_size=4),
)


def outcome(call, raw):
    try:
        return call(raw)
    except EventError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("implementation", ["native", "pure"])
@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(KINDS), values=st.lists(raw_values, min_size=1, max_size=8))
def test_a_keyer_gives_the_key(implementation, kind, values):
    if implementation == "native" and not native.available():
        pytest.skip("native core not installed")
    with native.pure_python() if implementation == "pure" else nullcontext():
        fast, plain = EntityKeys(b"k" * 70), EntityKeys(b"k" * 70)
        keyer = fast.keyer(kind)
        for raw in values + values:  # the second time from the cache
            assert outcome(keyer, raw) == outcome(lambda r: plain.key(kind, r), raw)
    with native.pure_python():
        oracle = EntityKeys(b"k" * 70)
        assert [outcome(keyer, raw) for raw in values] == [outcome(lambda r: oracle.key(kind, r), raw) for raw in values]

