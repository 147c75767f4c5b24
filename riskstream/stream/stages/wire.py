"""What the stages send each other: partition routing, message packing, key shapes on the wire.

Messages carry many touches, plans or signals at once, grouped by destination
partition, so per-message costs are paid per batch, not per order.  Partitions
are chosen by a stable hash (CRC-32) of the key, never Python's salted hash.
"""

from __future__ import annotations

import zlib
from typing import Any, Hashable, Iterable

import orjson

__all__ = ["MAX_MESSAGE", "Signal", "Touch", "key_from_wire", "key_text", "pack", "pack_keyed", "pack_progress",
           "partition_of"]

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
