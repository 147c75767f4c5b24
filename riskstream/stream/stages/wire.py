"""What the stages send each other: partition routing, message packing, key shapes on the wire.

Messages carry many touches, plans or signals at once, grouped by destination
partition, so per-message costs are paid per batch, not per order.  Partitions
are chosen by a stable hash (CRC-32) of the key, never Python's salted hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from typing import Any, Hashable, Iterable

import orjson

from ...entities.pseudonyms import mac_key

__all__ = ["MAX_MESSAGE", "PRIVATE_FIELDS", "Sealer", "Signal", "Touch", "key_from_wire", "key_text", "open_order",
           "pack", "pack_keyed", "pack_progress", "partition_of", "private_order"]

Touch = list  # [order_id, tracker, touch_no, key, t, qty, amount, value]
Signal = list  # [order_id, touch_no, count, quantity, amount, distinct]


def partition_of(key: str | bytes, partitions: int) -> int:
    """The partition that owns ``key``: CRC-32, stable across processes and machines."""
    data = key.encode() if isinstance(key, str) else key
    return zlib.crc32(data) % partitions


def key_text(key: Hashable) -> str:
    return key if isinstance(key, str) else "\x1f".join(map(str, key))  # type: ignore[arg-type]


def key_from_wire(key: Any) -> Hashable:
    return tuple(key) if isinstance(key, list) else key


MAX_MESSAGE = 256 * 1024  # bytes of items per message, well under the brokers' and clients' 1 MB


def pack(items: Iterable[Any], head: bytes = b"[", tail: bytes = b"]", limit: int = MAX_MESSAGE) -> list[bytes]:
    """``items`` as JSON messages ``head + item,item,... + tail``, as many as keep each
    under about ``limit`` bytes (one at least): a busy batch never outgrows a Kafka message."""
    out: list[bytes] = []
    group: list[bytes] = []
    size = 0
    for item in items:
        part = orjson.dumps(item)
        if group and size + len(part) > limit:
            out.append(head + b",".join(group) + tail)
            group, size = [], 0
        group.append(part)
        size += len(part) + 1
    out.append(head + b",".join(group) + tail)
    return out


def pack_keyed(key: str, items: Iterable[Any], **extra: Any) -> list[bytes]:
    """``{key: [items...], **extra}`` messages (see :func:`pack`)."""
    tail = b"]" + (b"," + orjson.dumps(extra)[1:] if extra else b"}")
    return pack(items, b'{"' + key.encode() + b'":[', tail)


def pack_progress(mark: dict) -> list[bytes]:
    """A screen's message to the graph stage, split like :func:`pack`; only the last part
    carries the partition's progress, so the watermark never passes links still to come."""
    bodies = pack(mark["links"], b'{"links":[', b"]")
    early = b',"p":%d,"upto":null,"offset":-1}' % mark["p"]
    last = b"," + orjson.dumps({"p": mark["p"], "upto": mark["upto"], "offset": mark["offset"]})[1:]
    return [body + early for body in bodies[:-1]] + [bodies[-1] + last]


#: Order fields that name a person, with the entity each is keyed as.  A plan carries none of
#: them as written: a field whose pseudonym the screen computed travels as that pseudonym (the
#: plan's ``keys`` hold it for the decide stage), any other sealed (:class:`Sealer`).  The IP
#: is always sealed: IP lists match CIDR ranges, which need the address itself.
PRIVATE_FIELDS = {"ip": None, "device_id": "device", "phone": "phone", "payment_fingerprint": "payment",
                  "shipping_address": "address"}
DIGEST = "_digest"  #: the raw order's digest, so a reused order id is still told from a re-sent order
_SEALED = "~s1:"  # a sealed text field
_SEALED_JSON = "~j1:"  # a sealed structured field (an address in parts)


class Sealer:
    """Deterministic authenticated encryption of order fields (SIV over keyed BLAKE2b).

    The tag is a keyed BLAKE2b of the text and keys the XOR stream, so equal values seal
    equally (a plan sent again is the same plan) and a changed token fails to open.  The keys
    derive from the pseudonym key: whoever can open a token could also enumerate the
    pseudonyms of IPs, so the secret protects both alike.
    """

    def __init__(self, secret: bytes, cache: int = 100_000):
        root = mac_key(secret)
        self._tag = hashlib.blake2b(key=root, digest_size=16, person=b"riskstream.siv.t")
        self._stream_key = hashlib.blake2b(b"stream", key=root, digest_size=32, person=b"riskstream.siv.s").digest()
        self._cache_limit = cache
        self._sealed: dict[Any, str] = {}
        self._opened: dict[str, Any] = {}

    def seal(self, value: Any) -> str:
        """``value`` (text, or JSON data) as a token."""
        token = self._sealed.get(value) if type(value) is str else None
        if token is None:
            if type(value) is str:
                prefix, data = _SEALED, value.encode("utf-8", "surrogatepass")
            else:
                prefix, data = _SEALED_JSON, orjson.dumps(value)
            h = self._tag.copy()
            h.update(prefix.encode() + data)
            tag = h.digest()
            token = prefix + base64.urlsafe_b64encode(tag + self._xor(tag, data)).decode()
            if type(value) is str:
                if len(self._sealed) >= self._cache_limit:
                    self._sealed.clear()
                self._sealed[value] = token
        return token

    def open(self, token: str) -> Any:
        """The value sealed in ``token``; ``ValueError`` for a token this key did not seal."""
        value = self._opened.get(token)
        if value is not None:
            return value
        prefix = token[:4]
        if prefix not in (_SEALED, _SEALED_JSON):
            raise ValueError("not a sealed field")
        raw = base64.urlsafe_b64decode(token[4:])
        tag, data = raw[:16], self._xor(raw[:16], raw[16:])
        h = self._tag.copy()
        h.update(prefix.encode() + data)
        if not hmac.compare_digest(h.digest(), tag):
            raise ValueError("sealed field does not open with this pseudonym key")
        value = data.decode("utf-8", "surrogatepass") if prefix == _SEALED else orjson.loads(data)
        if prefix == _SEALED:
            if len(self._opened) >= self._cache_limit:
                self._opened.clear()
            self._opened[token] = value
        return value

    def _xor(self, tag: bytes, data: bytes) -> bytes:
        stream = b""
        block = 0
        while len(stream) < len(data):
            stream += hashlib.blake2b(tag + block.to_bytes(4, "big"), key=self._stream_key, digest_size=64).digest()
            block += 1
        n = len(data)
        return (int.from_bytes(data, "big") ^ int.from_bytes(stream[:n], "big")).to_bytes(n, "big")


def private_order(data: dict, known: dict[str, Any], digest: bytes, sealer: Sealer) -> dict:
    """The order as a plan carries it: :data:`PRIVATE_FIELDS` as pseudonyms (those in ``known``,
    the view's entity keys) or sealed, and the raw order's ``digest``."""
    out = dict(data)
    for name, entity in PRIVATE_FIELDS.items():
        value = out.get(name)
        if value is None:
            continue
        if entity is not None and entity in known:
            out[name] = known[entity]
        else:
            out[name] = sealer.seal(value)
    out[DIGEST] = digest.hex()
    return out


def open_order(order: dict, sealer: Sealer) -> dict:
    """A plan's order with its sealed fields opened (pseudonymised ones stay as they are)."""
    out = None
    for name in PRIVATE_FIELDS:
        value = order.get(name)
        if type(value) is str and value[:4] in (_SEALED, _SEALED_JSON):
            if out is None:
                out = dict(order)
            out[name] = sealer.open(value)
    return order if out is None else out
