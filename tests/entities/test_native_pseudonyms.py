"""Pseudonyms from the native core equal hashlib's, for any kind, value and key."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream import native
from riskstream.entities.pseudonyms import mac_key, pseudonym

try:
    import riskstream_native
except ImportError:
    riskstream_native = None

pytestmark = pytest.mark.skipif(riskstream_native is None, reason="native core not installed (pip install ./native)")

texts = st.text(st.characters(blacklist_categories=()), max_size=40)  # lone surrogates included


@settings(max_examples=500, deadline=None)
@given(kind=texts, value=texts, key=st.binary(min_size=1, max_size=100))
def test_native_and_hashlib_pseudonyms_agree(kind, value, key):
    with native.pure_python():
        expected = pseudonym(kind, value, key)
    assert pseudonym(kind, value, key) == expected
    assert len(expected) == 20


def test_the_native_function_refuses_keys_it_cannot_take_as_they_are():
    with pytest.raises(ValueError, match="must not be empty"):
        riskstream_native.pseudonym("ip", "1.2.3.4", b"")
    with pytest.raises(ValueError, match="hashed to 64 first"):
        riskstream_native.pseudonym("ip", "1.2.3.4", b"k" * 65)
    assert riskstream_native.pseudonym("ip", "1.2.3.4", mac_key(b"k" * 65)) == pseudonym("ip", "1.2.3.4", b"k" * 65)
    with pytest.raises(ValueError, match="must not be empty"):
        pseudonym("ip", "1.2.3.4", b"")


@settings(max_examples=300, deadline=None)
@given(kind=texts, value=texts, key=st.binary(min_size=1, max_size=100))
def test_pseudonym_functions_give_the_pseudonym_on_both_implementations(kind, value, key):
    from riskstream.entities import pseudonym_function

    expected = pseudonym(kind, value, key)
    assert pseudonym_function(kind, key)(value) == expected
    with native.pure_python():
        assert pseudonym_function(kind, key)(value) == expected
