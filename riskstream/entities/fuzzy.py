"""Fuzzy shipping-address linking on keyed pseudonyms, with a guard for neighbours.

Scalper rings ship to a few drop addresses written many ways: junk after the
room ("快递放门口", "#A7", "-A"), parts reordered, numerals, a province left
out, a typo in a long street name. :func:`~riskstream.entities.address_key`
folds the spelling; this module links what is left over, without ever holding
the raw address.

Two steps, so that raw text never leaves the place that reads the order:

* :func:`address_signature` (stateless, wherever the order is read) turns a raw
  address into an :class:`AddressSignature` of keyed pseudonyms and numbers.
* :class:`AddressMatcher` (stateful, one instance, e.g. beside the entity
  graph) maps each signature to a *representative* key: the key of the first
  address of its group, or the address's own key when nothing matches.

>>> secret = b"doctest secret"
>>> m = AddressMatcher()
>>> a = address_signature("浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元1102室", secret)
>>> b = address_signature("杭州市西湖区 文三路三十八号锦绣华庭18幢1-1102房(快递放门口)", secret)
>>> c = address_signature("浙江省杭州市西湖区文三路38号锦绣华庭18栋1单元1103室", secret)
>>> m.match(a, ts=0.0) == a.key
True
>>> m.match(b, ts=1.0) == a.key      # the same flat, disguised
True
>>> m.match(c, ts=2.0) == c.key      # the flat next door: its own key
True

What a signature holds
----------------------
The address is split into *locality* (province, city, district at the head
of a Chinese address; city, state, country after a Western street line), the
*building part* (road, house number, estate, building, entrance, floor), the
*unit* (room or flat: ``1102室``, a bare ``1102`` after a building or
entrance, ``apt 4``; a number ending the address after a name, "菜鸟驿站1",
counts as a unit too) and *junk* (whatever follows the unit; in a Chinese
address a Western ``#A7`` / ``apt 7`` is junk as well). Every text field is a
keyed pseudonym (:func:`~riskstream.entities.pseudonym`):

``key``
    the exact canonical key: the same value the velocity windows key on.
``numbers``
    the sorted numbers of the building part (house number, building,
    entrance, floor; for Western addresses the house number): the *block*.
    Addresses link only within one block, so another house number, building,
    entrance or floor never links, while reordered parts still do.
``unit``
    the room / flat (scoped to the block, so equal rooms of unrelated
    buildings do not even look alike), or None.
``locality``
    province, city and district (None when absent). Compatible when every
    level present on both sides is equal: a missing province or city still
    links, another district does not.
``place``
    for Western addresses, 12-hex-digit tags of the comma-separated parts
    after the street line ("london", "new york", "ny"). Compatible when one
    side has none or they share a part.
``tags``
    the sorted keyed 32-bit tags of the building part's distinct name
    shingles (Chinese: characters and character pairs, digits and unit words
    left out; Western: letter trigrams of the street line's words). Each tag
    is a BLAKE2b MAC of the shingle under a key derived from the secret:
    without the secret a tag tells nothing of its text, only which addresses
    share it. (Like every deterministic pseudonym, tags seen in bulk are open
    to frequency analysis by whoever reads the signatures; they travel where
    the other pseudonyms do.)

A signature is plain data: :meth:`AddressSignature.to_data` gives a list of
strings, ints and lists for JSON (about 350 bytes), and
:meth:`AddressSignature.from_data` reads it back. The canonical key and the
locality come from :func:`~riskstream.entities.addresses.address_head`, the
cache the rules' address key fills, so a new address costs its parse and
tags: with the native core a Chinese address is signed in one call
(``AddressTagger.signature`` in ``native/src/fuzzy.rs``, the twin of
:func:`_chinese_block`, :meth:`_Tagger.tags` and the pseudonyms), some ten
microseconds in pure Python. Texts are cached too.

How the matcher decides
-----------------------
A new address (by ``key``) joins the group of an existing representative when
they share the block, their localities and places are compatible, the guard
passes and the share of the smaller name-shingle set found in the larger
(exact, from the tags) reaches ``similarity`` (default 0.7): it shrugs off junk
and missing parts. The guard ``"unit"`` (default) also requires the
same unit (or none on both sides): two rooms of one dormitory building, or two
flats of one tower, never link. ``"none"`` ignores units, a building-level
view. An address is compared with group *representatives* only, so a chain of
small edits cannot drift a group; among passing groups the most similar wins,
then the oldest. Groups never merge with each other: the representative of a
group is stable for as long as the group is held.

Candidates come from an exact index on the block (and the unit under the
``"unit"`` guard): the blocking key. The block is required for a link anyway,
so each address is compared with the few groups of its block only, and the
index costs one entry per group. Blocks are small (a house number and building
number and entrance, usually with a room), and the scan stops after the
``scan_limit`` newest groups of a block.

Cost and memory: one dict lookup for an address already held
(:meth:`AddressMatcher.match_key`: the engine then skips the signature), a
few microseconds for a new one; a group holds pseudonyms, tags and member keys.
:func:`new_address_matcher` makes the native core's twin of the matcher when
the core is in use (``native/src/matcher.rs``: the same decisions), and
:func:`match_address` signs and matches a new Chinese address in one native
call, without making its signature as Python objects. Groups
untouched for ``retention`` seconds of event time are evicted with their
addresses (time is the largest ``ts`` seen, so late events do not move it
back), and at most ``max_groups`` are held, least recently matched evicted
first. Results are deterministic for a given arrival order.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from .. import native
from .addresses import address_head, address_key, address_locality, address_text
from .pseudonyms import mac_key, pseudonym

__all__ = ["AddressMatcher", "AddressSignature", "address_signature", "match_address", "new_address_matcher",
           "signature_similarity"]

MAX_TAGS = 512  # name shingles kept of one address (a real one has tens)
_TAG_CACHE = 200_000  # shingle tags cached per secret
_CACHE_MAX_LEN = 256  # longer texts are signed but not cached
GUARDS = ("unit", "none")

# ------------------------------------------------------------------- parsing
# Place words after a number or letter: 号 house / building, 栋 building,
# 单元 entrance (ends in 元), 层 / 楼 floor, 弄 lane, 期 phase, 组 group, 室 room.
_MARKERS = "号栋元层楼弄期组室"
_ROOM_CN = re.compile(r"([0-9]+[a-z]?)室")
# A bare room number after a building, entrance or floor: "3栋2 1502",
# "29号4 3002", "2栋1603号", "88号1502"; then only junk (no digits, or one
# short number after a space: "1603 1").
_ROOM_CN_BARE = re.compile(
    r"(?:(?<=[0-9][号栋层楼])|(?<=[0-9]单元))((?:[0-9]+ )?)([0-9]{3,5})号?(?=[^0-9]*(?: [0-9]{1,2}[^0-9]*)?$)"
)
_WEST_UNIT_TAIL = re.compile(r"(?: apt [0-9a-z]+)+$")
# normalize moves "#A7" / "Apt 7" to the end as "apt a7"; a Chinese address
# writes its flat as 室, so there the Western unit is a note.
_WEST_UNIT_IN_CN = re.compile(r" ?apt [0-9a-z]+")
_TRAILING_NUMBER = re.compile(rf"(?<=[^0-9a-z {_MARKERS}]) ?([0-9]+[a-z]?)$")
# Courier shorthand for building, entrance and room after a name: "锦绣华庭2-1-2901" (keyed
# "锦绣华庭2 1 2901"), "阳光花园9-306": the last number is the room.
_COMPACT_UNIT = re.compile(rf"(?<=[^0-9a-z {_MARKERS}])((?:[0-9]+ ){{1,2}})([0-9]{{3,5}})$")
# A number, or one letter (and digits) naming a building ("a栋", "b2栋"); the letters of a
# word (pinyin: "wuyi lu53号") are not part of the number.
_CN_NUMBER = re.compile(rf"[0-9]+|(?<![a-z])[a-z][0-9]*(?=[{_MARKERS}])")
_WEST_NUMBER = re.compile(r"[0-9]")
_NOT_NAME = re.compile(rf"[0-9a-z {_MARKERS}单座幢]+")
# Street words (as normalize abbreviates them) and a few more that end a street.
_STREET_WORDS = frozenset(
    "st rd ave blvd dr ln ct pl sq ter hwy pkwy cir cres way close row walk mews grove gardens gdns hill".split()
)
_HAS_IDEO = re.compile(r"[\u3400-\u9fff]").search


class _Parts(NamedTuple):
    locality: tuple[str, str, str]
    place: tuple[str, ...]
    numbers: str
    unit: str | None
    shingles: list[str]


def _street(text: str) -> tuple[str, tuple[str, str, str], str] | None:
    """(exact canonical key, locality, street: the key without its locality), or None."""
    key, locality = address_head(text)  # a cache hit for an address the rules keyed
    if key is None:
        return None
    head = "".join(locality)
    if key.startswith(head):
        return key, locality, key[len(head):]
    # the key's fixed point rewrote its head (rare): key the rest on its own
    province, city, district, rest = address_locality(text)
    return key, (province, city, district), address_key(rest) or ""


def _parse(text: str) -> tuple[str, _Parts] | None:
    """(exact canonical key, parts) of the text of an address, or None."""
    found = _street(text)
    if found is None:
        return None
    key, (province, city, district), street = found
    if _HAS_IDEO(street):
        numbers, unit, shingles = _chinese_block(street)
        return key, _Parts((province, city, district[-2:]), (), numbers, unit, shingles)
    return key, _parse_western(text, street)


def _chinese_block(street: str) -> tuple[str, str | None, list[str]]:
    """The sorted numbers (the block), the unit and the name shingles of a Chinese street."""
    unit = None
    if "apt " in street:
        street = _WEST_UNIT_IN_CN.sub("", street)
    m = _ROOM_CN.search(street)
    if m is not None:
        unit, building = m.group(1), street[: m.start()]
    else:
        m = _ROOM_CN_BARE.search(street)
        if m is not None:
            unit, building = m.group(2), street[: m.start()] + m.group(1)
        else:
            m = _COMPACT_UNIT.search(street)
            if m is not None:
                unit, building = m.group(2), street[: m.start()] + m.group(1)
            else:
                # A number ending the address after a name ("菜鸟驿站1", "幸福里29")
                # may be a note or a locker, building or flat: a unit, for the guard.
                m = _TRAILING_NUMBER.search(street)
                if m is not None:
                    unit, building = m.group(1), street[: m.start()]
                else:
                    building = street
    building = building.strip()
    numbers = ",".join(sorted(_CN_NUMBER.findall(building)))
    names = _NOT_NAME.sub(" ", building).split()
    shingles = [c for name in names for c in name]
    shingles += [name[i : i + 2] for name in names for i in range(len(name) - 1)]
    return numbers, unit, shingles


def _parse_western(text: str, street: str) -> _Parts:
    unit = None
    w = _WEST_UNIT_TAIL.search(street)
    if w is not None:
        unit, street = w.group().strip(), street[: w.start()]
    words = street.split()
    # The street line ends at the first street word after a name ("12 St John
    # St"); what follows is the place: city, state, country, postcode.
    cut, named = len(words), False
    for i, word in enumerate(words):
        if named and word in _STREET_WORDS:
            cut = i + 1
            break
        named = named or not _WEST_NUMBER.search(word)
    place = _places(text, set(words[:cut])) if "," in text else ()
    if not place:
        place = (" ".join([w for w in words[cut:] if not _WEST_NUMBER.search(w)]),)
    house = next((w for w in words[:cut] if _WEST_NUMBER.search(w)), "")
    names = [w for w in words[:cut] if not _WEST_NUMBER.search(w)]
    shingles = []
    for w in names:
        padded = f" {w} "
        shingles += [padded[i : i + 3] for i in range(len(padded) - 2)]
    return _Parts(("", "", ""), place, house, unit, shingles)


def _places(text: str, street_words: set[str]) -> tuple[str, ...]:
    """The comma-separated parts after the street line: "New York", "NY"."""
    out = []
    for part in text.split(","):
        words = (address_key(part) or "").split()
        if not words or not street_words.isdisjoint(words) or words[0] == "apt":
            continue
        phrase = " ".join([w for w in words if not _WEST_NUMBER.search(w)])
        if phrase:
            out.append(phrase)
    return tuple(out)


# ------------------------------------------------------------------ signature


class AddressSignature(NamedTuple):
    """What the matcher needs of one address: keyed pseudonyms and keyed name tags.

    Plain data: :meth:`to_data` is its JSON form, :meth:`from_data` reads it back.
    """

    key: str  #: pseudonym of the exact canonical address (as the velocity windows key it)
    numbers: str  #: pseudonym of the building part's sorted numbers: the block
    unit: str | None  #: pseudonym of the room / flat within the block, or None
    locality: tuple[str | None, str | None, str | None]  #: province, city, district pseudonyms
    place: tuple[str, ...]  #: keyed tags of the parts after a Western street line ("New York", "NY")
    tags: tuple[int, ...]  #: sorted keyed 32-bit tags of the building part's distinct name shingles

    def to_data(self) -> list[Any]:
        """The JSON form: ``[key, numbers, unit, [province, city, district], [place...], [tag...]]``."""
        return [self.key, self.numbers, self.unit, list(self.locality), list(self.place), list(self.tags)]

    @classmethod
    def from_data(cls, data: Sequence[Any]) -> AddressSignature:
        """A signature from its JSON form (:meth:`to_data`)."""
        if len(data) != 6:
            raise ValueError(f"not an address signature: {len(data)} fields, not 6")
        key, numbers, unit, locality, place, tags = data
        if len(locality) != 3 or len(tags) > MAX_TAGS:
            raise ValueError("not an address signature: wrong locality length or too many tags")
        tags = tuple(int(x) for x in tags)
        if not all(0 <= tag <= 0xFFFFFFFF for tag in tags):
            raise ValueError("not an address signature: a tag is not a 32-bit number")
        return cls(str(key), str(numbers), None if unit is None else str(unit),
                   tuple(None if x is None else str(x) for x in locality),  # type: ignore[arg-type]
                   tuple(str(x) for x in place), tags)

    @property
    def shingles(self) -> int:
        """How many distinct name shingles the tags stand for."""
        return len(self.tags)


class _Tagger:
    """Keyed 32-bit tags of shingles under one secret, with a bounded cache: shingles
    (single characters, character pairs, letter trigrams) repeat across addresses, so
    most cost a dict lookup."""

    __slots__ = ("_base", "_cache", "_native", "_secret")

    def __init__(self, secret: bytes):
        if not secret:
            raise ValueError("the address secret must not be empty")
        subkey = hashlib.blake2b(secret, digest_size=32, person=b"riskstream.adrtg").digest()
        self._base = hashlib.blake2b(key=subkey, digest_size=4)
        self._cache: dict[str, int] = {}
        self._secret = secret
        core = native.core()
        self._native = core.AddressTagger(subkey, mac_key(secret), AddressSignature) if core is not None else None

    def block(self, street: str) -> tuple[str, str | None, tuple[int, ...]]:
        """The block (numbers pseudonym), unit pseudonym and tags of a Chinese street: natively
        when the core is in use (:func:`riskstream.native.pure_python` turns it off), else
        from :func:`_chinese_block`, with the same values."""
        if self._native is not None and native.core() is not None:
            try:
                numbers, unit, tags = self._native.block(street)
                return numbers, unit, tuple(tags)
            except UnicodeEncodeError:  # lone surrogates: not UTF-8, parsed below
                pass
        numbers, room, shingles = _chinese_block(street)
        return _block_pseudonyms(numbers, room, self._secret) + (self.tags(set(shingles)),)

    def tags(self, shingles: set[str]) -> tuple[int, ...]:
        cache = self._cache
        out = []
        for shingle in shingles:
            tag = cache.get(shingle)
            if tag is None:
                h = self._base.copy()
                h.update(shingle.encode("utf-8", "surrogatepass"))
                tag = int.from_bytes(h.digest(), "little")
                if len(cache) >= _TAG_CACHE:
                    cache.clear()  # bounded; common shingles come straight back
                cache[shingle] = tag
            out.append(tag)
        out.sort()
        return tuple(out)


@lru_cache(maxsize=64)
def _tagger(secret: bytes) -> _Tagger:
    return _Tagger(secret)


@lru_cache(maxsize=8192)
def _locality(province: str, city: str, district: str, secret: bytes) -> tuple[str | None, str | None, str | None]:
    """Pseudonyms of the locality names (None where absent): few distinct values, cached."""
    return (pseudonym("address.province", province, secret) if province else None,
            pseudonym("address.city", city, secret) if city else None,
            pseudonym("address.district", district, secret) if district else None)


@lru_cache(maxsize=8192)
def _name(kind: str, value: str, secret: bytes) -> str:
    """Pseudonym of a locality or place name: few distinct values, cached."""
    return pseudonym(kind, value, secret)


def address_signature(raw: str | Mapping[str, Any], secret: bytes, key: str | None = None,
                      cached: bool = True) -> AddressSignature | None:
    """The :class:`AddressSignature` of a raw address (string or object form), or None.

    Stateless and deterministic: the same address and secret give the same
    signature on every worker. None when the address has no canonical key.
    ``key``: the address's pseudonym (``pseudonym("address", address_key(raw),
    secret)``) when the caller has it already, as the rules do.
    A new address costs a few microseconds once the rules have keyed it (the
    canonical key and locality come from their cache; the parse and the tags
    are native when the core is in use); repeated texts come from a bounded cache,
    unless ``cached`` is False (for a caller that asks only for addresses it has not
    seen, :meth:`AddressMatcher.match_key`).
    """
    if type(raw) is not str:
        if isinstance(raw, Mapping):
            raw = address_text(raw)  # the object form is keyed through its text
        elif not isinstance(raw, str):
            return None
    if not cached or len(raw) > _CACHE_MAX_LEN:
        return _signature.__wrapped__(raw, secret, key)
    return _signature(raw, secret, key)


def _block_pseudonyms(numbers: str, room: str | None, secret: bytes) -> tuple[str, str | None]:
    """The block's and the unit's pseudonyms (the unit is scoped to its block)."""
    return (pseudonym("address.numbers", numbers, secret),
            None if room is None else pseudonym("address.unit", f"{numbers}|{room}", secret))


@lru_cache(maxsize=4096)
def _signature(text: str, secret: bytes, key_pseudonym: str | None) -> AddressSignature | None:
    key, locality = address_head(text)  # a cache hit for an address the rules keyed
    if key is None:
        return None
    tagger = _tagger(secret)
    if tagger._native is not None and native.core() is not None:
        try:  # a Chinese address in one native call: parse, tags and pseudonyms
            sig = tagger._native.signature(key, *locality, key_pseudonym or None)
        except UnicodeEncodeError:  # lone surrogates: not UTF-8, signed below
            sig = None
        if sig is not None:
            return sig
    found = _street(text)
    if found is None:
        return None
    key, (province, city, district), street = found
    if _HAS_IDEO(street):
        numbers, unit, tags = tagger.block(street)
        district = district[-2:]
        place: tuple[str, ...] = ()
    else:
        parts = _parse_western(text, street)
        numbers, unit = _block_pseudonyms(parts.numbers, parts.unit, secret)
        tags = tagger.tags(set(parts.shingles))
        province, city, district = parts.locality
        place = tuple(sorted({_name("address.place", phrase, secret)[:12] for phrase in parts.place if phrase}))
    return AddressSignature(key_pseudonym or pseudonym("address", key, secret), numbers, unit,
                            _locality(province, city, district, secret), place, tags[:MAX_TAGS])


def signature_similarity(a: AddressSignature, b: AddressSignature) -> float:
    """Share of the smaller name-shingle set found in the larger (0..1), exactly.

    Two empty sets are equal (1.0); an empty and a non-empty one are not (0.0).
    """
    return _similarity(frozenset(a.tags), frozenset(b.tags))


def _similarity(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    return len(a & b) / min(len(a), len(b))


# -------------------------------------------------------------------- matcher


class _Group:
    """A representative address and what links to it (only pseudonyms and numbers)."""

    __slots__ = ("block", "last_seen", "locality", "members", "place", "rep", "tags")

    def __init__(self, sig: AddressSignature, tags: frozenset[int], block: tuple[str, str | None], ts: float):
        self.rep = sig.key
        self.block = block
        self.locality = list(sig.locality)
        self.place = frozenset(sig.place)
        self.tags = tags
        self.members = [sig.key]
        self.last_seen = ts


class AddressMatcher:
    """Maps address signatures to representative keys; incremental and bounded.

    Parameters
    ----------
    similarity
        Least containment (0..1) of the name shingles for a link.
        1.0 links only identical name sets; 0.0 links anything in the block.
    guard
        ``"unit"``: rooms / flats must be equal (or both absent) to link.
        ``"none"``: units are ignored; one group per building.
    retention
        Seconds of event time a group is kept after it was last matched.
    max_groups
        Hard bound on the groups held; the least recently matched go first.
    max_members
        Addresses remembered per group for the exact fast path; further
        variants still match, through the block scan.
    scan_limit
        Representatives compared per new address (the newest of its block).
    """

    def __init__(self, similarity: float = 0.7, guard: str = "unit", retention: float = 7 * 86_400.0,
                 max_groups: int = 200_000, max_members: int = 32, scan_limit: int = 32):
        _check_matcher(similarity, guard, retention, max_groups, max_members, scan_limit)
        self.similarity = similarity
        self.guard = guard
        self.retention = retention
        self.max_groups = max_groups
        self.max_members = max_members
        self.scan_limit = scan_limit
        self._members: dict[str, _Group] = {}  # address key -> its group
        self._groups: OrderedDict[str, _Group] = OrderedDict()  # rep key -> group, least recent first
        self._blocks: dict[tuple[str, str | None], list[_Group]] = {}  # block -> groups, oldest first
        self._watermark = float("-inf")

    def match(self, signature: AddressSignature, ts: float) -> str:
        """The representative key for ``signature`` seen at event time ``ts`` (seconds)."""
        rep = self.match_key(signature.key, ts)
        return rep if rep is not None else self.match_new(signature, ts)

    def match_new(self, signature: AddressSignature, ts: float) -> str:
        """:meth:`match` for a signature whose key :meth:`match_key` just found not held at ``ts``."""
        group = self._link(signature, ts)
        if ts > group.last_seen:
            group.last_seen = ts
        self._groups.move_to_end(group.rep)
        return group.rep

    def match_key(self, key: str, ts: float) -> str | None:
        """:meth:`match` for an address whose key is held at ``ts``: its representative,
        the same as :meth:`match` gives; None (and nothing changed but the clock) when the
        key is not held, and :meth:`match` needs the signature. A caller that holds the raw
        address can thus skip its signature for a repeated one."""
        if ts > self._watermark:
            self._watermark = ts
            self._evict()
        group = self._members.get(key)
        if group is None:
            return None
        if ts > group.last_seen:
            group.last_seen = ts
        self._groups.move_to_end(group.rep)
        return group.rep

    def _link(self, sig: AddressSignature, ts: float) -> _Group:
        block = (sig.numbers, sig.unit if self.guard == "unit" else None)
        groups = self._blocks.get(block)
        tags = frozenset(sig.tags)
        best, best_score = None, -1.0
        if groups:
            threshold = self.similarity
            for group in reversed(groups[-self.scan_limit:]):  # newest first; ties go to the oldest
                if not _compatible(group, sig):
                    continue
                score = _similarity(group.tags, tags)
                if score >= threshold and score >= best_score:
                    best, best_score = group, score
        if best is None:
            best = _Group(sig, tags, block, ts)
            self._groups[best.rep] = best
            self._blocks.setdefault(block, []).append(best)
            self._members[sig.key] = best
            if len(self._groups) > self.max_groups:
                self._drop(next(iter(self._groups.values())))
            return best
        for i, name in enumerate(sig.locality):  # the group learns levels it lacked
            if best.locality[i] is None and name is not None:
                best.locality[i] = name
        if not best.place and sig.place:
            best.place = frozenset(sig.place)
        if len(best.members) < self.max_members:
            best.members.append(sig.key)
            self._members[sig.key] = best
        return best

    def _evict(self) -> None:
        horizon = self._watermark - self.retention
        groups = self._groups
        while groups:
            oldest = next(iter(groups.values()))
            if oldest.last_seen >= horizon:
                return
            self._drop(oldest)

    def _drop(self, group: _Group) -> None:
        del self._groups[group.rep]
        for key in group.members:
            if self._members.get(key) is group:
                del self._members[key]
        block = self._blocks[group.block]
        block.remove(group)
        if not block:
            del self._blocks[group.block]

    def size(self) -> int:
        """Addresses (exact keys) held."""
        return len(self._members)

    def __contains__(self, key: object) -> bool:
        """Whether the address with this key is held (its next match is a lookup)."""
        return key in self._members

    def groups(self) -> int:
        """Groups (representatives) held."""
        return len(self._groups)

    def __repr__(self) -> str:
        return (f"AddressMatcher(similarity={self.similarity}, guard={self.guard!r}, retention={self.retention}, "
                f"groups={self.groups()}, addresses={self.size()})")


def _check_matcher(similarity: float, guard: str, retention: float, max_groups: int, max_members: int,
                   scan_limit: int) -> None:
    if not 0.0 <= similarity <= 1.0:
        raise ValueError(f"similarity must be within 0.0..1.0, got {similarity!r}")
    if guard not in GUARDS:
        raise ValueError(f"guard must be one of {', '.join(GUARDS)}, got {guard!r}")
    if retention <= 0 or max_groups < 1 or max_members < 1 or scan_limit < 1:
        raise ValueError("retention, max_groups, max_members and scan_limit must be positive")


def new_address_matcher(similarity: float = 0.7, guard: str = "unit", retention: float = 7 * 86_400.0,
                        max_groups: int = 200_000, max_members: int = 32, scan_limit: int = 32) -> AddressMatcher:
    """An :class:`AddressMatcher`: the native core's twin when it is in use (see
    :mod:`riskstream.native`), else the pure-Python one.  Both give the same
    representatives for the same signatures in the same order, and evict alike."""
    _check_matcher(similarity, guard, retention, max_groups, max_members, scan_limit)
    core = native.core()
    if core is None:
        return AddressMatcher(similarity, guard, retention, max_groups, max_members, scan_limit)
    return core.AddressMatcher(float(similarity), guard, float(retention), int(max_groups), int(max_members),
                               int(scan_limit))


def match_address(matcher: AddressMatcher, raw: str | Mapping[str, Any], secret: bytes, key: str, ts: float) -> str:
    """The representative of the address ``raw`` (``key``: its pseudonym, as the rules key it)
    seen at ``ts``: ``matcher.match(address_signature(raw, secret, key), ts)``, or ``key`` when
    the address has no signature; the signature is made only for an address the matcher
    does not hold.  With the native core, a new Chinese address is signed and matched in
    one native call, and its signature is never made as a Python object."""
    rep = matcher.match_key(key, ts)
    if rep is not None:
        return rep
    if key and type(matcher) is not AddressMatcher and native.core() is not None:
        text = raw if type(raw) is str else address_text(raw) if isinstance(raw, Mapping) else None
        if text is not None:
            canonical, locality = address_head(text)
            if canonical is None:
                return key
            tagger = _tagger(secret)._native
            if tagger is not None:
                try:
                    rep = matcher.match_address(tagger, canonical, *locality, key, ts)  # type: ignore[attr-defined]
                except UnicodeEncodeError:  # lone surrogates: not UTF-8, signed below
                    rep = None
                if rep is not None:
                    return rep
            raw = text
    sig = address_signature(raw, secret, key, cached=False)  # a held address never comes here
    return key if sig is None else matcher.match_new(sig, ts)


def _compatible(group: _Group, sig: AddressSignature) -> bool:
    """Every locality level present on both sides is equal, and the places
    (when both have one) share a part."""
    for a, b in zip(group.locality, sig.locality):
        if a is not None and b is not None and a != b:
            return False
    return not group.place or not sig.place or not group.place.isdisjoint(sig.place)
