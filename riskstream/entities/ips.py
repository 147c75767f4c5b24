"""Canonical IP keys: :func:`ip_key` (IPv4/IPv6 text) and :func:`ip_prefix` (its /24 or /64).

Both run on the per-order hot path: canonical dotted quads skip parsing, and
other forms go through a bounded LRU cache.  They return ``None`` for input
they cannot make sense of and never raise on arbitrary text.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from .limits import CACHE_MAX_LEN, CACHE_SIZE

__all__ = ["ip_key", "ip_prefix"]


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# Canonical dotted quad (no leading zeros, no spaces): the key is the input.
_IPV4_CANONICAL = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}").fullmatch

_IPV4_MAX = 1 << 32
_IPV6_MAX = 1 << 128


def _ip_text_from_int(n: int) -> str | None:
    if n < 0:
        return None
    if n < _IPV4_MAX:
        return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    if n < _IPV6_MAX:
        addr = ipaddress.IPv6Address(n)
        mapped = addr.ipv4_mapped
        return str(mapped) if mapped is not None else str(addr)
    return None


def _int_or_none(ip: object) -> int | None:
    """An integer address from int-like input (bool excluded), else None."""
    if isinstance(ip, bool):
        return None
    if isinstance(ip, int):
        return ip
    index = getattr(type(ip), "__index__", None)  # numpy integers and the like
    if index is None:
        return None
    try:
        return index(ip)
    except (TypeError, ValueError, OverflowError):
        return None


_V6_CHARS = re.compile(r"[0-9a-fA-F:]{2,39}").fullmatch


def _v6_groups(s: str) -> list[int] | None:
    """The eight 16-bit groups of IPv6 text without an embedded IPv4 part.

    None when the text is not of that plain shape; the caller then asks
    :mod:`ipaddress`, so this only has to be right when it answers.
    """
    if not _V6_CHARS(s):
        return None
    head, sep, tail = s.partition("::")
    if sep:
        if "::" in tail:
            return None
        left = head.split(":") if head else []
        right = tail.split(":") if tail else []
        missing = 8 - len(left) - len(right)
        if missing < 1:
            return None
        parts = left + ["0"] * missing + right
    else:
        parts = s.split(":")
        if len(parts) != 8:
            return None
    # Only hex digits and colons are left, so a group is 1 to 4 hex digits.
    for part in parts:
        if not 0 < len(part) <= 4:
            return None
    return [int(part, 16) for part in parts]


def _v6_text(groups: list[int]) -> str:
    """RFC 5952 text, as :mod:`ipaddress` writes it: the first longest run of
    two or more zero groups becomes "::", hex in lower case."""
    best_start = best_len = 0
    start = -1
    for i, g in enumerate(groups):
        if g:
            start = -1
        else:
            if start < 0:
                start = i
            if i - start + 1 > best_len:
                best_start, best_len = start, i - start + 1
    if best_len > 1:
        left = ":".join([f"{g:x}" for g in groups[:best_start]])
        right = ":".join([f"{g:x}" for g in groups[best_start + best_len :]])
        return f"{left}::{right}"
    return ":".join([f"{g:x}" for g in groups])


def _v6_key(groups: list[int]) -> str:
    if groups[5] == 0xFFFF and not any(groups[:5]):  # IPv4-mapped
        g6, g7 = groups[6], groups[7]
        return f"{g6 >> 8}.{g6 & 255}.{g7 >> 8}.{g7 & 255}"
    return _v6_text(groups)


@lru_cache(maxsize=CACHE_SIZE)
def _ip_key_text(text: str) -> str | None:
    s = text.strip()
    if s.startswith("[") and s.endswith("]"):  # "[2001:db8::1]"
        s = s[1:-1]
    if "%" in s:  # a zone id ("fe80::1%eth0") is meaningful only on its host
        s = s.partition("%")[0]
    groups = _v6_groups(s)
    if groups is not None:
        return _v6_key(groups)
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        return None
    if addr.version == 6:
        mapped = addr.ipv4_mapped
        if mapped is not None:
            return str(mapped)
    return str(addr)


def ip_key(ip: str | int) -> str | None:
    """Canonical text of an IPv4 or IPv6 address, or None if unparseable.

    IPv6 comes back compressed and lower-case; IPv4-mapped IPv6
    (``"::ffff:1.2.3.4"``) comes back as the IPv4 address. An integer below
    2**32 is an IPv4 address, a larger one (below 2**128) an IPv6 address.
    Surrounding whitespace, ``[...]`` brackets and a zone id are ignored.
    IPv4 with leading zeros (``"01.2.3.4"``) is rejected, like :mod:`ipaddress`.
    """
    if isinstance(ip, str):
        if _IPV4_CANONICAL(ip):
            return ip
        if len(ip) > CACHE_MAX_LEN:
            return _ip_key_text.__wrapped__(ip)
        return _ip_key_text(ip)
    n = _int_or_none(ip)
    return None if n is None else _ip_text_from_int(n)


@lru_cache(maxsize=CACHE_SIZE)
def _prefix_of_key(key: str) -> str:
    if ":" in key:
        groups = _v6_groups(key)
        if groups is None:  # not expected: keys are of the plain shape
            net = int(ipaddress.IPv6Address(key)) >> 64 << 64
            return f"{ipaddress.IPv6Address(net)}/64"
        return _v6_text(groups[:4] + [0, 0, 0, 0]) + "/64"
    return key[: key.rindex(".")] + ".0/24"


def ip_prefix(ip: str | int) -> str | None:
    """The /24 network of an IPv4 address or the /64 of an IPv6 address.

    ``"10.1.2.3"`` -> ``"10.1.2.0/24"``; ``"2001:db8:1:2::5"`` ->
    ``"2001:db8:1:2::/64"``; IPv4-mapped IPv6 gives the IPv4 /24.
    None if the address is unparseable.
    """
    if isinstance(ip, str) and _IPV4_CANONICAL(ip):
        return ip[: ip.rindex(".")] + ".0/24"
    key = ip_key(ip)
    if key is None:
        return None
    return _prefix_of_key(key)
