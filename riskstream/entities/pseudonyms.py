"""Keyed pseudonyms: what state, changelogs and logs hold instead of raw entity values."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any, Callable

from .. import native

__all__ = ["mac_key", "pseudonym", "pseudonym_function"]


_PSEUDONYM_PERSON = b"riskstream.pn.v1"  # 16 bytes: BLAKE2b personalisation


@lru_cache(maxsize=64)
def mac_key(key: bytes) -> bytes:
    """The BLAKE2b key made of a pseudonym key: itself, or hashed to 64 bytes when longer."""
    if not key:
        raise ValueError("pseudonym key must not be empty")
    if len(key) > 64:  # BLAKE2b takes keys of up to 64 bytes
        key = hashlib.blake2b(key, digest_size=64, person=b"riskstream.key.1").digest()
    return key


@lru_cache(maxsize=1024)
def _pseudonym_hasher(kind: str, key: bytes) -> Any:  # a blake2b object
    h = hashlib.blake2b(key=mac_key(key), digest_size=10, person=_PSEUDONYM_PERSON)
    k = kind.encode("utf-8", "surrogatepass")
    h.update(len(k).to_bytes(4, "big") + k)  # length prefix: unambiguous domain
    return h


def pseudonym(kind: str, value: str, key: bytes) -> str:
    """Keyed pseudonym of ``value`` in the domain ``kind``: 20 lower-case hex chars.

    Keyed BLAKE2b (a MAC, like HMAC) with a 10-byte digest. The same value
    gives different pseudonyms under different kinds ("ip", "phone",
    "address", ...) and different keys, so pseudonyms can't be joined across
    entity types, and without the key they can't be reversed by enumerating
    phone numbers or IPs. Pass the canonical key (:func:`phone_key`, ...), not
    the raw text, so that variants share a pseudonym. ``key`` must not be empty.
    """
    if not isinstance(key, bytes):
        key = bytes(key)
    core = native.core()
    if core is not None:
        try:
            return core.pseudonym(kind, value, mac_key(key))
        except UnicodeEncodeError:  # lone surrogates: not UTF-8, hashed below as surrogatepass bytes
            pass
    h = _pseudonym_hasher(kind, key).copy()
    h.update(value.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def pseudonym_function(kind: str, key: bytes) -> Callable[[str], str]:
    """``lambda value: pseudonym(kind, value, key)`` with the key and the kind's hash state made
    once: what the hot path calls per new entity value.  The native core (when in use as this is
    called) hashes; text with lone surrogates is hashed here, as :func:`pseudonym` does."""
    if not isinstance(key, bytes):
        key = bytes(key)
    hasher = _pseudonym_hasher(kind, key)

    def pure(value: str) -> str:
        h = hasher.copy()
        h.update(value.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    core = native.core()
    if core is None:
        return pure
    hash_native, mac = core.pseudonym, mac_key(key)

    def fast(value: str) -> str:
        try:
            return hash_native(kind, value, mac)
        except UnicodeEncodeError:  # lone surrogates: not UTF-8
            return pure(value)

    return fast
