"""Hostile text in addresses: invisible characters, right-to-left controls, full-width and foreign digits."""

import re
import sys
import unicodedata

import pytest

from riskstream.entities import addresses
from riskstream.entities.addresses import address_key

PLAIN_CN = "上海市浦东新区世纪大道1号"
PLAIN_EN = "12 Baker Street"


@pytest.mark.parametrize("text", [
    "上海市浦东新区世\u200b纪大道1号", "上海市浦东新区世纪大道\u202e1号\u202c", "\ufeff上海市浦东新区世纪大道1号",
    "上海市浦东新区世纪大道１号", "上海市浦东新区世纪大道١号", "上海\u2066市浦东新区\u2069世纪大道1号",
    "上海市\u200d浦东新区世纪大道\u00ad1号",
])
def test_invisible_characters_and_foreign_digits_do_not_split_a_chinese_address(text):
    assert address_key(text) == address_key(PLAIN_CN)


@pytest.mark.parametrize("text", [
    "12 Ba\u200bker Street", "\u202e12 Baker Street\u202c", "１２ Baker Street", "12 Ba\u00adker St",
    "١٢ Baker Street", "१२ Baker Street", "12 Baker Street\ufeff", "\u200e12 Baker\u200f Street", "12 Bake\ufe0fr Street",
])
def test_invisible_characters_and_foreign_digits_do_not_split_a_western_address(text):
    assert address_key(text) == address_key(PLAIN_EN) == "12 baker st"


def test_an_address_of_invisible_characters_only_has_no_key():
    assert address_key("\u200b\u200c\u200d\u202e\ufeff") is None


def test_the_invisible_table_is_every_format_character_of_this_python():
    """The regular expression's class is Unicode's category Cf (plus joiner and selectors), no more, no less."""
    pattern = re.compile(addresses._INVISIBLE.pattern[:-1])  # one character at a time
    extra = {0x034F} | set(range(0xFE00, 0xFE10)) | set(range(0xE0100, 0xE01F0))
    for cp in range(sys.maxunicode + 1):
        char = chr(cp)
        expected = unicodedata.category(char) == "Cf" or cp in extra
        assert bool(pattern.fullmatch(char)) == expected, hex(cp)
