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
``sketch`` and ``shingles``
    a 128-value MinHash (:class:`datasketch.MinHash`) of the building part's
    name shingles (Chinese: characters and character pairs, digits and unit
    words left out; Western: letter trigrams of the street line's words), and
    how many there are. Each shingle is hashed with a 32-bit keyed BLAKE2b
    whose key is derived from the secret, so the sketch is a set of minima of
    keyed hashes: without the secret it tells nothing of the text, only how
    alike two addresses are. It estimates the share of the smaller shingle
    set found in the larger, which shrugs off junk and missing parts.

A signature is plain data: :meth:`AddressSignature.to_data` gives a list of
strings, ints and lists for JSON (about 1.5 kB), and
:meth:`AddressSignature.from_data` reads it back. It costs a few hundred
microseconds to compute (canonical key, parse, sketch) and is cached by text.

How the matcher decides
-----------------------
A new address (by ``key``) joins the group of an existing representative when
they share the block, their localities and places are compatible, the guard
passes and the estimated containment of the name shingles reaches
``similarity`` (default 0.7). The guard ``"unit"`` (default) also requires the
same unit (or none on both sides): two rooms of one dormitory building, or two
flats of one tower, never link. ``"none"`` ignores units, a building-level
view. An address is compared with group *representatives* only, so a chain of
small edits cannot drift a group; among passing groups the most similar wins,
then the oldest. Groups never merge with each other: the representative of a
group is stable for as long as the group is held.

Candidates come from an exact index on the block (and the unit under the
``"unit"`` guard) rather than from LSH bands: the block is required anyway,
is far more selective than a band, and costs one index entry per group
instead of one per band. Blocks are small (a house number and building
number and entrance, usually with a room), and the scan stops after the
``scan_limit`` newest groups of a block.

Cost and memory: a few microseconds for an address already held (one dict
lookup), tens of microseconds for a new one; about 1.3 kB per group. Groups
untouched for ``retention`` seconds of event time are evicted with their
addresses (time is the largest ``ts`` seen, so late events do not move it
back), and at most ``max_groups`` are held, least recently matched evicted
first. Results are deterministic for a given arrival order.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from operator import eq
from typing import Any, Callable, NamedTuple

from .addresses import address_key, address_locality, address_text
from .pseudonyms import pseudonym

__all__ = ["AddressMatcher", "AddressSignature", "address_signature", "signature_similarity"]

NUM_PERM = 128
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
_CN_NUMBER = re.compile(rf"[0-9]+|[a-z]+[0-9]*(?=[{_MARKERS}])")
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


def _parse(text: str) -> tuple[str, _Parts] | None:
    """(exact canonical key, parts) of the text of an address, or None."""
    key = address_key(text)
    if key is None:
        return None
    province, city, district, rest = address_locality(text)
    street = address_key(rest) or ""
    if _HAS_IDEO(street):
        return key, _parse_chinese((province, city, district[-2:]), street)
    return key, _parse_western(text, street)


def _parse_chinese(locality: tuple[str, str, str], street: str) -> _Parts:
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
    return _Parts(locality, (), numbers, unit, shingles)


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
    """What the matcher needs of one address: keyed pseudonyms and a keyed sketch.

    Plain data: :meth:`to_data` is its JSON form, :meth:`from_data` reads it back.
    """

    key: str  #: pseudonym of the exact canonical address (as the velocity windows key it)
    numbers: str  #: pseudonym of the building part's sorted numbers: the block
    unit: str | None  #: pseudonym of the room / flat within the block, or None
    locality: tuple[str | None, str | None, str | None]  #: province, city, district pseudonyms
    place: tuple[str, ...]  #: keyed tags of the parts after a Western street line ("New York", "NY")
    sketch: tuple[int, ...]  #: keyed MinHash of the building part's name shingles
    shingles: int  #: how many distinct name shingles the sketch summarises

    def to_data(self) -> list[Any]:
        """The JSON form: ``[key, numbers, unit, [province, city, district], [place...], [sketch...], shingles]``."""
        return [self.key, self.numbers, self.unit, list(self.locality), list(self.place), list(self.sketch),
                self.shingles]

    @classmethod
    def from_data(cls, data: Sequence[Any]) -> AddressSignature:
        """A signature from its JSON form (:meth:`to_data`)."""
        key, numbers, unit, locality, place, sketch, shingles = data
        if len(locality) != 3 or len(sketch) != NUM_PERM:
            raise ValueError("not an address signature: wrong locality or sketch length")
        return cls(str(key), str(numbers), None if unit is None else str(unit),
                   tuple(None if x is None else str(x) for x in locality),  # type: ignore[arg-type]
                   tuple(str(x) for x in place),
                   tuple(int(x) for x in sketch), int(shingles))


@lru_cache(maxsize=1)
def _permutations() -> Any:
    # Public, fixed permutations: the secrecy is in the keyed shingle hash.
    from datasketch import (
        MinHash,  # here: datasketch loads scipy (~0.5 s), which only fuzzy matching needs
    )

    return MinHash(num_perm=NUM_PERM, seed=20261111).permutations


@lru_cache(maxsize=64)
def _shingle_hash(secret: bytes) -> Callable[[bytes], int]:
    """A keyed 32-bit hash of shingles, with a key derived from ``secret``."""
    if not secret:
        raise ValueError("the address secret must not be empty")
    subkey = hashlib.blake2b(secret, digest_size=32, person=b"riskstream.adrmh").digest()
    base = hashlib.blake2b(key=subkey, digest_size=4)

    def h(shingle: bytes) -> int:
        x = base.copy()
        x.update(shingle)
        return int.from_bytes(x.digest(), "little")

    return h


def _sketch(shingles: set[str], secret: bytes) -> tuple[int, ...]:
    from datasketch import MinHash

    mh = MinHash(num_perm=NUM_PERM, hashfunc=_shingle_hash(secret), permutations=_permutations())
    mh.update_batch(sorted(s.encode() for s in shingles))
    return tuple(mh.hashvalues.tolist())


def address_signature(raw: str | Mapping[str, Any], secret: bytes) -> AddressSignature | None:
    """The :class:`AddressSignature` of a raw address (string or object form), or None.

    Stateless and deterministic: the same address and secret give the same
    signature on every worker. None when the address has no canonical key.
    A new address costs a few hundred microseconds (canonical key, parse,
    sketch); repeated texts come from a bounded cache.
    """
    if isinstance(raw, Mapping):
        raw = address_text(raw)  # the object form is keyed through its text
    elif not isinstance(raw, str):
        return None
    if len(raw) > _CACHE_MAX_LEN:
        return _signature.__wrapped__(raw, secret)
    return _signature(raw, secret)


@lru_cache(maxsize=4096)
def _signature(text: str, secret: bytes) -> AddressSignature | None:
    parsed = _parse(text)
    if parsed is None:
        return None
    key, parts = parsed
    numbers = pseudonym("address.numbers", parts.numbers, secret)
    unit = None if parts.unit is None else pseudonym("address.unit", f"{parts.numbers}|{parts.unit}", secret)
    locality = tuple(pseudonym(f"address.{level}", name, secret) if name else None
                     for level, name in zip(("province", "city", "district"), parts.locality))
    place = tuple(sorted({pseudonym("address.place", phrase, secret)[:12] for phrase in parts.place if phrase}))
    names = set(parts.shingles)
    return AddressSignature(pseudonym("address", key, secret), numbers, unit, locality, place,  # type: ignore[arg-type]
                            _sketch(names, secret), len(names))


def signature_similarity(a: AddressSignature, b: AddressSignature) -> float:
    """Estimated share of the smaller name-shingle set found in the larger (0..1).

    From the MinHash estimate J of the Jaccard index and the set sizes:
    ``|A & B| = J (|A| + |B|) / (1 + J)``, divided by ``min(|A|, |B|)``.
    Two empty sets are equal (1.0); an empty and a non-empty one are not (0.0).
    """
    return _similarity(a.sketch, a.shingles, b.sketch, b.shingles)


def _similarity(sa: Sequence[int], na: int, sb: Sequence[int], nb: int) -> float:
    if not na or not nb:
        return 1.0 if na == nb else 0.0
    j = sum(map(eq, sa, sb)) / NUM_PERM
    return min(1.0, j * (na + nb) / ((1.0 + j) * min(na, nb)))


# -------------------------------------------------------------------- matcher


class _Group:
    """A representative address and what links to it (only pseudonyms and numbers)."""

    __slots__ = ("block", "last_seen", "locality", "members", "place", "rep", "shingles", "sketch")

    def __init__(self, sig: AddressSignature, block: tuple[str, str | None], ts: float):
        self.rep = sig.key
        self.block = block
        self.locality = list(sig.locality)
        self.place = frozenset(sig.place)
        self.sketch = array("I", sig.sketch)  # 4 bytes a value, not a tuple of ints
        self.shingles = sig.shingles
        self.members = [sig.key]
        self.last_seen = ts


class AddressMatcher:
    """Maps address signatures to representative keys; incremental and bounded.

    Parameters
    ----------
    similarity
        Least estimated containment (0..1) of the name shingles for a link.
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
        if not 0.0 <= similarity <= 1.0:
            raise ValueError(f"similarity must be within 0.0..1.0, got {similarity!r}")
        if guard not in GUARDS:
            raise ValueError(f"guard must be one of {', '.join(GUARDS)}, got {guard!r}")
        if retention <= 0 or max_groups < 1 or max_members < 1 or scan_limit < 1:
            raise ValueError("retention, max_groups, max_members and scan_limit must be positive")
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
        if ts > self._watermark:
            self._watermark = ts
            self._evict()
        group = self._members.get(signature.key)
        if group is None:
            group = self._link(signature, ts)
        if ts > group.last_seen:
            group.last_seen = ts
        self._groups.move_to_end(group.rep)
        return group.rep

    def _link(self, sig: AddressSignature, ts: float) -> _Group:
        block = (sig.numbers, sig.unit if self.guard == "unit" else None)
        groups = self._blocks.get(block)
        best, best_score = None, -1.0
        if groups:
            threshold = self.similarity
            for group in reversed(groups[-self.scan_limit:]):  # newest first; ties go to the oldest
                if not _compatible(group, sig):
                    continue
                score = _similarity(group.sketch, group.shingles, sig.sketch, sig.shingles)
                if score >= threshold and score >= best_score:
                    best, best_score = group, score
        if best is None:
            best = _Group(sig, block, ts)
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


def _compatible(group: _Group, sig: AddressSignature) -> bool:
    """Every locality level present on both sides is equal, and the places
    (when both have one) share a part."""
    for a, b in zip(group.locality, sig.locality):
        if a is not None and b is not None and a != b:
            return False
    return not group.place or not sig.place or not group.place.isdisjoint(sig.place)
