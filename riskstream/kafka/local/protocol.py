"""A minimal Kafka wire-protocol probe (no client library needed).

Sends ``ApiVersions`` v0 and ``Metadata`` v4 over a plain socket. Both versions
are understood by Kafka 3.x and 4.x brokers. A broker that answers Metadata with
a non-empty broker list has finished starting and serves clients.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

API_METADATA = 3
API_VERSIONS = 18
CLIENT_ID = b"riskstream-localkafka"


class ProbeError(OSError):
    """The peer did not answer like a Kafka broker."""


@dataclass(frozen=True)
class BrokerInfo:
    """What a broker says about its cluster."""

    cluster_id: str | None
    controller_id: int
    brokers: tuple[tuple[int, str, int], ...]
    api_keys: int


class _Reader:
    """Sequential big-endian reader over a response payload."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        try:
            values = struct.unpack_from(">" + fmt, self.data, self.pos)
        except struct.error as exc:
            raise ProbeError(f"truncated Kafka response: {exc}") from None
        self.pos += struct.calcsize(">" + fmt)
        return values[0] if len(values) == 1 else values

    def string(self) -> str | None:
        size = self.take("h")
        if size < 0:
            return None
        raw = self.data[self.pos : self.pos + size]
        if len(raw) != size:
            raise ProbeError("truncated Kafka response string")
        self.pos += size
        return raw.decode("utf-8", "replace")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 65536))
        if not chunk:
            raise ProbeError("connection closed by peer")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _call(
    sock: socket.socket, api_key: int, version: int, corr: int, body: bytes
) -> _Reader:
    header = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID
    message = header + body
    sock.sendall(struct.pack(">i", len(message)) + message)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    if size < 4 or size > 64 * 1024 * 1024:
        raise ProbeError(f"implausible Kafka response size {size}")
    reader = _Reader(_recv_exact(sock, size))
    if reader.take("i") != corr:
        raise ProbeError("Kafka response correlation id mismatch")
    return reader


def probe(host: str, port: int, timeout: float = 2.0) -> BrokerInfo:
    """Ask ``host:port`` for its API versions and cluster metadata.

    Raises ``OSError`` (``ProbeError`` included) when nothing listens, the peer
    is not Kafka, or the broker is not serving requests yet.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        reader = _call(sock, API_VERSIONS, 0, 1, b"")
        error = reader.take("h")
        if error:
            raise ProbeError(f"ApiVersions failed with error code {error}")
        api_keys = reader.take("i")
        # Metadata v4: no topics (empty array), no auto-creation.
        reader = _call(sock, API_METADATA, 4, 2, struct.pack(">ib", 0, 0))
        reader.take("i")  # throttle_time_ms
        brokers = []
        for _ in range(reader.take("i")):
            node_id = reader.take("i")
            broker_host = reader.string() or ""
            broker_port = reader.take("i")
            reader.string()  # rack
            brokers.append((node_id, broker_host, broker_port))
        cluster_id = reader.string()
        controller_id = reader.take("i")
    if not brokers:
        raise ProbeError("broker answered but lists no live brokers yet")
    return BrokerInfo(cluster_id, controller_id, tuple(brokers), api_keys)


def port_in_use(host: str, port: int) -> bool:
    """True when something is bound to ``host:port`` (TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
