"""Canonical shipping-address keys, Chinese and Western, from text or the object form.

* :func:`address_key` -- the canonical text two spellings of one address share;
* :func:`address_text` -- the text form of a structured address;
* :func:`address_locality` -- the province, city and district at the head of a
  Chinese address, and the rest of it (for fuzzy matching, :mod:`.fuzzy`).

They never raise on arbitrary text; :func:`address_key` returns ``None`` when
nothing is left of the input.

Hostile text is normalised by one stated rule, before anything else:

* invisible characters are removed: every format character (Unicode category
  Cf - zero-width space and joiners, left-to-right/right-to-left marks,
  embeddings, overrides and isolates, the soft hyphen, the byte-order mark),
  the combining grapheme joiner and the variation selectors.  So
  ``"Ba\u200bker"`` and ``"\u202e12 Baker St"`` key as ``"baker"`` and
  ``"12 baker st"``: an attacker cannot split one address into many keys with
  characters nobody sees;
* full-width and other compatibility forms fold to their plain form (NFKC:
  ``"１２"`` is ``"12"``), and the decimal digits of every other script become
  ASCII digits (``"١٢"`` is ``"12"``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

from .limits import CACHE_MAX_LEN, CACHE_SIZE

__all__ = ["address_head", "address_key", "address_locality", "address_text"]


# CJK ideographs and the scripts written without spaces between words; spaces
# next to these are dropped, spaces between other words are kept (one each).
_IDEO = "\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"

_BRACKET_NOTE = re.compile(
    r"[(\[{【〔〖「『][^()\[\]{}【】〔〕〖〗「」『』]*[)\]}】〕〗」』]"
)
_OPEN_BRACKETS = frozenset("([{【〔〖「『")

# "3#楼" / "3#502" (Chinese shorthand for 号); "#4", "Apt #4" (Western unit).
_HASH_AFTER_DIGIT = re.compile(r"(?<=[0-9])#")
_HASH_UNIT = re.compile(r"(?:\b(?:apartment|apt|unit|flat|suite|ste)\b\.?\s*)?#\s*(?=[0-9a-z])")

_NON_WORD = re.compile(r"[\W_]+")
_SPACE_NEAR_IDEO = re.compile(rf"(?<=[{_IDEO}]) | (?=[{_IDEO}])")

# A Western unit designator with its identifier. The identifier must hold a
# digit or be a single letter, so "Flat Rock Road" is left alone.
_WEST_UNIT = re.compile(
    r"\b(?:apartment|apt|unit|flat|suite|ste) (?:(?:no|number) )?"
    r"([0-9][0-9a-z]*|[a-z][0-9][0-9a-z]*|[a-z])\b"
)
_WEST_UNIT_WORDS = ("apartment", "apt", "unit", "flat", "suite", "ste")

_WEST_WORDS = {
    "street": "st",
    "road": "rd",
    "avenue": "ave",
    "av": "ave",
    "boulevard": "blvd",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "square": "sq",
    "terrace": "ter",
    "highway": "hwy",
    "parkway": "pkwy",
    "circle": "cir",
    "crescent": "cres",
    "saint": "st",
    "floor": "fl",
    "building": "bldg",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}

# Provincial-level divisions. The suffix (省, 市, 自治区, ...) is optional in
# addresses and dropped from the key.
_PROVINCES = (
    "北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|"
    "湖南|广东|海南|四川|贵州|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门"
)
# 市 is not a suffix when another 市 follows ("上海市市南路"), except for the
# 市辖区 placeholder ("北京市市辖区").
_PROVINCE_SUFFIXES = "省|市(?!市(?!辖区))|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区"
# Name characters of a city or district: ideographs except the suffixes
# 区 (U+533A), 县 (U+53BF), 市 (U+5E02) and 省 (U+7701).
_NAME = "[\u4e00-\u5339\u533b-\u53be\u53c0-\u5e01\u5e03-\u7700\u7702-\u9fff]"
# A city "X市", not a market: 超市, 菜市, 夜市, 集市, 早市 (门 is not on the
# list: 江门, 荆门, 厦门).
_CITY_NAME = rf"({_NAME}{{2,4}}?)(?<![超菜夜集早])市"
# Province, then (optionally) the municipality repeated as its own city
# (北京市北京市, 吉林省吉林市) or the 市辖区 placeholder, a city "X市" and a
# district "X区" / "X县" / county-level "X市". Groups: province, city, district.
_ADMIN_AFTER_PROVINCE = re.compile(
    rf"({_PROVINCES})(?:{_PROVINCE_SUFFIXES})?(?:\1市?)?(?:市辖区)?"
    rf"(?:{_CITY_NAME})?(?:({_NAME}{{1,4}}?)[区县市])?"
)
# Without a province in front, a leading "X市" is a city only when a district
# follows ("深圳市南山区"), so a street address is not touched.
_ADMIN_CITY_FIRST = re.compile(rf"(){_CITY_NAME}({_NAME}{{1,4}}?)[区县市]")

_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMERAL_CHARS = frozenset(_CN_DIGITS) | frozenset(_CN_UNITS)
# Words that make the number in front of them the number of a place: house
# number, building, entrance, room, floor, lane, phase, village group. Roads
# and streets are not among them: "八一路" and "五四大街" are names.
_PLACE_UNITS = "号|栋|幢|座|单元|室|房|层|楼|弄|期|组"
_CN_NUMERAL = re.compile(rf"([零〇一幺二两三四五六七八九十百千]+)(?={_PLACE_UNITS})")
# "第3栋" == "3栋" (after numerals: "第三栋" -> "第3栋" -> "3栋").
_ORDINAL_DIGITS = re.compile(rf"第+(?=[0-9]+(?:{_PLACE_UNITS}))")

# Building words to 栋, room words to 室, after a number or letter ("3号楼",
# "a座", "502房"); not elsewhere ("座" alone is a common word).
_UNIT_WORD = re.compile(r"(?<=[0-9a-z])(?:号楼|幢|座|房间|房)")
_UNIT_WORD_CANON = {"号楼": "栋", "幢": "栋", "座": "栋", "房间": "室", "房": "室"}


def _unit_word(m: re.Match[str]) -> str:
    return _UNIT_WORD_CANON[m.group()]


_ASCII_DIGITS = "0123456789"
_ROOM_AFTER = ("单元", "栋", "层", "楼")
_HAS_LATIN = re.compile(r"[a-z]").search

_CANONICAL_CHARS = re.compile(r"[0-9a-z \u4e00-\u9fff]*").fullmatch


def _cn_number(m: re.Match[str]) -> str:
    return _cn_number_text(m.group(1))


@lru_cache(maxsize=4096)
def _cn_number_text(text: str) -> str:
    if not any(c in _CN_UNITS for c in text):  # positional: 五零二 -> 502
        return "".join(str(_CN_DIGITS[c]) for c in text)
    total = 0
    digit = -1
    last_unit = 1
    zero = False
    for c in text:
        unit = _CN_UNITS.get(c)
        if unit is not None:
            total += (digit if digit >= 0 else 1) * unit
            digit = -1
            last_unit = unit
            zero = False
        else:
            d = _CN_DIGITS[c]
            if d == 0:
                zero = True
            else:
                digit = d
    if digit >= 0:
        # Colloquial "一百一" is 110 and "三千二" is 3200; "一百零一" is 101.
        total += digit * (last_unit // 10 if last_unit >= 100 and not zero else 1)
    return str(total)


def _admin_once(s: str) -> str:
    """Drop the suffixes of the leading province, city and district names."""
    m = _ADMIN_AFTER_PROVINCE.match(s) or _ADMIN_CITY_FIRST.match(s)
    if m is None:
        return s
    province, city, district = m.groups("")
    end = m.end()
    if end == len(province) + len(city) + len(district):  # nothing dropped
        return s
    return province + city + district + s[end:]


def _strip_admin(s: str) -> str:
    # Iterate to a fixed point so that the key of a key is the key itself.
    while True:
        t = _admin_once(s)
        if t == s:
            return s
        s = t


_NO_LOCALITY = ("", "", "")


def _head(s: str) -> tuple[str, str, str]:
    """The leading province, city and district names (without suffixes) the key starts with."""
    m = _ADMIN_AFTER_PROVINCE.match(s) or _ADMIN_CITY_FIRST.match(s)
    return _NO_LOCALITY if m is None else m.groups("")


# Format characters (category Cf, Unicode 14 as in Python 3.11; a test checks the table
# against unicodedata), the combining grapheme joiner and the variation selectors.
_INVISIBLE = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
    "\u034f\ufe00-\ufe0f\U000e0100-\U000e01ef]+"
)
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")  # a decimal digit of a script other than ASCII


def _ascii_digit(m: re.Match[str]) -> str:
    return str(unicodedata.decimal(m.group()))


def _fold(s: str) -> str:
    """Invisible characters off, NFKC (full-width to half-width), every script's digits to ASCII, case folding."""
    if s.isascii():
        return s.lower()
    s = _INVISIBLE.sub("", s)
    if not unicodedata.is_normalized("NFKC", s):
        s = unicodedata.normalize("NFKC", s)
    if _OTHER_DIGIT.search(s):
        s = _OTHER_DIGIT.sub(_ascii_digit, s)
    # Case folding can denormalise a few characters; keys holding characters
    # beyond Latin and CJK are taken to a fixed point in _address_key_text.
    return s.casefold()


def _without_notes(s: str) -> str:
    """Folded text without bracketed delivery notes, with ``#`` read as 号 or a unit."""
    s = _fold(s)
    # Delivery notes in brackets: "(放门口)", "（周末送货）", "【...】", "[...]".
    if not _OPEN_BRACKETS.isdisjoint(s):
        for _ in range(4):  # innermost first; deeper nesting is left to punctuation
            s, n = _BRACKET_NOTE.subn(" ", s)
            if not n:
                break
    if "#" in s:
        s = _HASH_AFTER_DIGIT.sub("号", s)
        s = _HASH_UNIT.sub(" apt ", s)
    return s


def _canonical_address(s: str) -> str:
    return _canonical_address_head(s)[0]


def _canonical_address_head(s: str) -> tuple[str, tuple[str, str, str]]:
    """The canonical text, and the locality names its head was read as (see :func:`address_head`)."""
    locality = _NO_LOCALITY
    s = _without_notes(s)

    # Punctuation and runs of whitespace become one space; no space next to
    # Chinese text.
    if not s.isalnum():
        s = _NON_WORD.sub(" ", s)
        if " " in s:
            s = s.strip() if s.isascii() else _SPACE_NEAR_IDEO.sub("", s).strip()
        if not s:
            return s, locality

    latin = _HAS_LATIN(s) is not None
    if latin and any(w in s for w in _WEST_UNIT_WORDS):
        # Western unit ("Apt 4", "Flat 4", "#4") goes to the end as "apt 4",
        # so the unit before or after the street gives one key.
        units = _WEST_UNIT.findall(s)
        if units:
            rest = s
            found = units
            while found:  # removing a unit can bring two words together
                rest = " ".join(_WEST_UNIT.sub(" ", rest).split())
                if not rest.isascii():
                    rest = _SPACE_NEAR_IDEO.sub("", rest)
                found = _WEST_UNIT.findall(rest)
                units += found
            tail = " ".join(["apt " + u for u in units])
            if not rest:
                s = tail
            elif rest.isascii():
                s = f"{rest} {tail}"
            else:
                s = _SPACE_NEAR_IDEO.sub("", f"{rest} {tail}")

    if not s.isascii():
        if "\u4e00" <= s[0] <= "\u9fff":
            locality = _head(s)
            s = _strip_admin(s)
        if not _CN_NUMERAL_CHARS.isdisjoint(s):
            s = _CN_NUMERAL.sub(_cn_number, s)
        if "第" in s:
            n = 1
            while n:  # "第0第0室": dropping one 第 can expose another
                s, n = _ORDINAL_DIGITS.subn("", s)
        if "号楼" in s or "幢" in s or "座" in s or "房" in s:
            s = _UNIT_WORD.sub(_unit_word, s)
        if s[-1] in _ASCII_DIGITS:
            # "3栋2单元502" -> "3栋2单元502室": a bare number after an
            # entrance, building or floor at the end of the address is the room.
            head = s.rstrip(_ASCII_DIGITS)
            if head.endswith(_ROOM_AFTER):
                s += "室"

    if latin and " " in s:
        # Street words of space-separated Western text: "street" -> "st".
        s = " ".join([_WEST_WORDS.get(w, w) for w in s.split(" ")])
    return s, locality


@lru_cache(maxsize=CACHE_SIZE)
def _address_key_text(text: str) -> tuple[str | None, tuple[str, str, str]]:
    """The key of a text and the locality its head was read as, cached together:
    :func:`address_key` for the rules, :func:`address_head` for fuzzy matching."""
    s, head = _canonical_address_head(text)
    if not _CANONICAL_CHARS(s):
        # Scripts beyond Latin and CJK: normalise to a fixed point so that the
        # key of a key is the key itself.
        for _ in range(8):
            t = _canonical_address(s)
            if t == s:
                break
            s = t
    return (s, head) if s else (None, _NO_LOCALITY)


_ADDRESS_PARTS_BIG_FIRST = ("region", "city", "district", "street")
_HAS_IDEO = re.compile(rf"[{_IDEO}]").search


def address_text(address: Mapping[str, str | None]) -> str:
    """The text form of a structured address; the key is built from it.

    Only ``region``, ``city``, ``district`` and ``street`` take part (not the
    recipient, postal code or country: one address is one address whoever
    receives there). Chinese addresses are joined largest first
    (``"北京市 海淀区 中关村大街27号"``), Western ones in their own order,
    street first (``"12 Baker Street, London"``). A string equal to this text
    gives the same :func:`address_key` as the object.
    """
    parts = []
    for name in _ADDRESS_PARTS_BIG_FIRST:
        part = address.get(name)
        if isinstance(part, str):
            part = part.strip()
            if part:
                parts.append(part)
    text = " ".join(parts)
    if _HAS_IDEO(text):  # a Chinese part (the spaces joining them are none)
        return text
    parts.reverse()
    return ", ".join(parts)


def address_key(address: str | Mapping[str, str | None]) -> str | None:
    """Canonical text of a shipping address, or None if nothing is left.

    Chinese: full-width folded to half-width, bracketed delivery notes dropped,
    punctuation and spaces removed, province/city/district suffixes dropped
    (北京市海淀区 == 北京海淀区), Chinese numerals of a place turned into digits
    (二十三栋 -> 23栋), building words to one form (号楼/幢/座 -> 栋), rooms to
    one form (房/房间 -> 室; a bare trailing room number gets 室).
    Western: case-folded, punctuation off, street words abbreviated
    (Street -> st, Road -> rd, ...), the unit (Apartment/Apt/Unit/Flat/Suite/#)
    moved to the end as ``apt N``.
    Room and flat numbers stay in the key. The object form is keyed through
    :func:`address_text`.
    """
    if isinstance(address, str):
        text = address
    elif isinstance(address, Mapping):
        text = address_text(address)
    else:
        return None
    if len(text) > CACHE_MAX_LEN:
        return _address_key_text.__wrapped__(text)[0]
    return _address_key_text(text)[0]


def address_head(text: str) -> tuple[str | None, tuple[str, str, str]]:
    """:func:`address_key` of a text, and the ``(province, city, district)`` names
    (suffixes dropped, ``""`` when absent) that the head of the key was read as.

    One canonicalisation serves both, from the same cache as :func:`address_key`,
    so the fuzzy matcher costs a lookup for an address the rules have keyed. The
    names are those :func:`address_locality` finds, and the key starts with them
    unless the fixed point of the key rewrote its head (rare; then a caller
    should fall back to :func:`address_locality`).

    >>> address_head("广东省广州市天河区 人民路88号")
    ('广东广州天河人民路88号', ('广东', '广州', '天河'))
    """
    if len(text) > CACHE_MAX_LEN:
        return _address_key_text.__wrapped__(text)
    return _address_key_text(text)


def address_locality(address: str | Mapping[str, str | None]) -> tuple[str, str, str, str]:
    """The leading ``(province, city, district)`` names of a Chinese address, and the rest.

    Names come without their suffixes (省, 市, 区, 县, ...) and are ``""`` when
    absent; a city written without 市 after its province ("广东广州天河区")
    is read as part of the district name ("广州天河"). The rest is text to pass
    to :func:`address_key`: folded, bracketed notes and punctuation dropped,
    Chinese ``#`` turned into 号. Addresses that do not start with Chinese
    text have no locality: ``("", "", "", text)``.

    >>> address_locality("广东省广州市天河区 人民路88号")
    ('广东', '广州', '天河', '人民路88号')
    >>> address_locality("深圳市南山区科技园路1号")
    ('', '深圳', '南山', '科技园路1号')
    """
    if isinstance(address, str):
        text = address
    elif isinstance(address, Mapping):
        text = address_text(address)
    else:
        return "", "", "", ""
    s = _without_notes(text)
    s = _SPACE_NEAR_IDEO.sub("", _NON_WORD.sub(" ", s)).strip()
    if not s or not "\u4e00" <= s[0] <= "\u9fff":
        return "", "", "", s
    m = _ADMIN_AFTER_PROVINCE.match(s) or _ADMIN_CITY_FIRST.match(s)
    if m is None:
        return "", "", "", s
    province, city, district = m.groups("")
    return province, city, district, s[m.end():]
