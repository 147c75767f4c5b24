"""Bulk loading of JSONL order files into the orders topic (``riskstream produce``).

:func:`load` publishes at full speed or at a steady
rate (load tests, demos, replays of a flash sale).  Each line goes out byte for byte,
keyed by its ``account_id``.  Lines that are not JSON objects or have no account id
still go out, without a key, so that the workers' dead-letter path sees them; they are
counted in the summary.  Validation against the order contract only reports: an
order that fails it is sent all the same (the workers reject it and dead-letter it).

A batch the brokers do not acknowledge (a broker restarting, a leader moving) is sent
again with exponential backoff (:data:`RETRY_FIRST` doubling up to :data:`RETRY_MOST`
seconds, for at most ``retry_for`` seconds in all); each retry is said on standard error
(``say``) and counted.  A partition's batches go out one at a time and in order, a
retried batch ahead of every later one, so a fault never reorders a partition.  Orders
of a retried batch may reach the topic twice (the first try was written but its
acknowledgement lost), right behind the first copy; the workers apply an order id once.

Bulk loading uses aiokafka's batch API: records go straight into C-built record
batches, one open batch per partition, which costs a few microseconds per order where
a per-record ``send`` costs tens.  Partitions are chosen exactly as the Java client,
kafka-python and aiokafka choose them (murmur2 of the key), so an account's orders
land in the same partition whichever client published them.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from ..events import EventError, parse_order
from .security import aiokafka_options, start_explained

READ_CHUNK = 1 << 20  #: bytes read from the input at a time
BATCH_BYTES = 256 * 1024  #: record batch size while loading
LINGER = 0.005  #: seconds an open batch may wait for more orders
MAX_RECORD_BYTES = 1_048_576 - 1024  #: larger lines cannot be produced (broker's default message limit)
QUEUED = 8  #: filled batches a partition may hold waiting for its batch on the way before the input waits
RETRY_FIRST = 0.2  #: seconds before the first retry of a failed batch
RETRY_MOST = 5.0  #: the longest wait between retries
RETRY_FOR = 300.0  #: seconds a batch is retried before its orders count as failed
REQUEST_TIMEOUT = 10.0  #: seconds the client waits for an acknowledgement before the batch fails (and is retried)
EXAMPLES = 5


@dataclass
class ProduceStats:
    sent: int = 0  #: acknowledged by the brokers
    lines: int = 0  #: non-blank input lines
    unkeyed: int = 0  #: not a JSON object with a string account_id: sent without a key
    invalid: int = 0  #: failed the order contract (validation on): sent all the same
    too_large: int = 0  #: over the record size limit: not sent
    failed: int = 0  #: sent but not acknowledged, retries exhausted
    retried: int = 0  #: batches sent again after a failure
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def note(self, line_number: int, problem: str) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"line {line_number}: {problem}")


def _account_key(line: bytes) -> bytes | None:
    """The UTF-8 ``account_id`` of a JSON object line, or None."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    account_id = data.get("account_id") if isinstance(data, dict) else None
    return account_id.encode() if isinstance(account_id, str) and account_id else None


class _TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up (10 ms worth): smooth pacing
    whose average stays exact over the whole run, without catching up in bursts."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate * 0.01)
        self.tokens = 1.0
        self.stamp = time.monotonic()

    def refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def shortfall(self) -> float:
        """Seconds until the next token (0 when one is available)."""
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


class _Loader:
    """Open record batches per partition, sent when full, stale or at the end.

    Each partition has at most one batch on its way at a time, and its batches
    leave in the order they were filled: a batch the brokers did not
    acknowledge goes out again before any later batch of its partition, so a
    broker going away never reorders a partition (the workers' graph reads
    each partition in event-time order).  Batches of different partitions
    travel side by side."""

    def __init__(self, producer, topic: str, partitions: list[int], stats: ProduceStats,
                 say: Callable[[str], None] = lambda message: None, retry_for: float = RETRY_FOR) -> None:
        from aiokafka.partitioner import murmur2

        self.producer = producer
        self.topic = topic
        self.partitions = partitions
        self.count = len(partitions)
        self.murmur2 = murmur2
        self.stats = stats
        self.open: dict[int, tuple[Any, list, float]] = {}  # partition -> (builder, records, opened at)
        # Closed batches per partition, oldest first: (builder or None to rebuild, records, first try, why failed)
        self.queued: dict[int, collections.deque] = {p: collections.deque() for p in partitions}
        self.flying: dict[int, tuple[asyncio.Future, list, float]] = {}  # partition -> (ack, records, first try)
        self.due: dict[int, float] = {}  # partition -> monotonic time its failed head may go out again
        self.backoff: dict[int, float] = {}  # partition -> the wait before its next retry
        self.sticky = 0  # partition index for records without a key, moved on per batch
        self.say = say
        self.retry_for = retry_for

    def append(self, key: bytes | None, value: bytes) -> tuple[int, Any, int] | None:
        """Add one record; a batch it filled comes back as ``(partition, builder, records)``
        for :meth:`send` (synchronous, so that the per-record path has no await)."""
        if key is None:
            index = self.sticky
        else:
            index = (self.murmur2(key) & 0x7FFFFFFF) % self.count
        partition = self.partitions[index]
        entry = self.open.get(partition)
        if entry is not None:
            builder, records, opened = entry
            if builder.append(key=key, value=value, timestamp=None) is not None:
                records.append((key, value))
                return None
        builder = self.producer.create_batch()
        builder.append(key=key, value=value, timestamp=None)  # an empty batch takes any record
        self.open[partition] = (builder, [(key, value)], time.monotonic())
        if key is None:
            self.sticky = (self.sticky + 1) % self.count
        return None if entry is None else (partition, entry[0], entry[1])

    async def send_stale(self, age: float = LINGER) -> None:
        cutoff = time.monotonic() - age
        for partition in [p for p, (_, _, opened) in self.open.items() if opened <= cutoff]:
            builder, records, _ = self.open.pop(partition)
            await self.send(partition, builder, records)
        await self.pump()

    async def send_all(self) -> None:
        await self.send_stale(age=-1.0)

    async def send(self, partition: int, builder, records: list) -> None:
        """Queue a filled batch behind its partition's earlier ones; wait while too many queue."""
        builder.close()
        queue = self.queued[partition]
        queue.append((builder, records, time.monotonic(), None))
        await self.pump()
        while len(queue) > QUEUED:  # the brokers are slower than the input (or away): hold the input back
            await self._wait(self._next_due())
            await self.pump()

    async def pump(self) -> None:
        """Settle acknowledged batches, then send each idle partition's oldest queued batch."""
        now = time.monotonic()
        for partition, (future, records, first) in list(self.flying.items()):
            if not future.done():
                continue
            del self.flying[partition]
            if future.cancelled() or future.exception() is not None:
                why = "cancelled" if future.cancelled() else repr(future.exception())
                self._failed(partition, None, records, first, why, now)
            else:
                self.stats.sent += len(records)
                self.backoff.pop(partition, None)
        for partition, queue in self.queued.items():
            if partition in self.flying or not queue or self.due.get(partition, 0.0) > now:
                continue
            builder, records, first, why = queue.popleft()
            if why is not None:
                if now - first > self.retry_for:
                    self._give_up(partition, records, why)
                    continue
                builder = self._rebuild(partition, records, first, queue)
                self.stats.retried += 1
            try:
                future = await self.producer.send_batch(builder, self.topic, partition=partition)
            except Exception as exc:  # noqa: BLE001 - no metadata or no leader while a broker is away
                self._failed(partition, builder, records, first, repr(exc), time.monotonic())
            else:
                self.flying[partition] = (future, records, first)

    def _rebuild(self, partition: int, records: list, first: float, queue: collections.deque):
        """A new batch of a failed batch's records (a batch is sent once); what no longer fits
        goes back at the head of the queue, still ahead of every later batch."""
        builder, rest = self.producer.create_batch(), []
        for n, (key, value) in enumerate(records):
            if builder.append(key=key, value=value, timestamp=None) is None:  # full (a smaller limit now)
                rest = records[n:]
                break
        builder.close()
        if rest:
            queue.appendleft((None, rest, first, "split from a batch sent again"))
        return builder

    def _failed(self, partition: int, builder, records: list, first: float, why: str, now: float) -> None:
        wait = self.backoff.get(partition, RETRY_FIRST)
        self.backoff[partition] = min(RETRY_MOST, wait * 2)
        self.due[partition] = now + wait
        self.queued[partition].appendleft((None, records, first, why))
        self.say(f"a batch of {len(records)} orders for partition {partition} not acknowledged ({why}); "
                 f"retrying in {wait:.1f} s, ahead of the partition's later batches")

    def _give_up(self, partition: int, records: list, why: str) -> None:
        self.stats.failed += len(records)
        if self.stats.error is None:
            self.stats.error = why
        self.say(f"gave up on {len(records)} orders for partition {partition} after "
                 f"{self.retry_for:g} s of retries: {why}")

    def _next_due(self) -> float:
        """Seconds until the earliest partition waiting out a backoff may retry (1 s when none is)."""
        now = time.monotonic()
        waits = [due - now for p, due in self.due.items() if self.queued[p] and p not in self.flying]
        return max(0.0, min(waits, default=1.0))

    async def _wait(self, timeout: float) -> None:
        """Until a batch on its way settles, or ``timeout`` seconds."""
        futures = [future for future, _, _ in self.flying.values()]
        if futures:
            await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(timeout)

    async def finish(self) -> None:
        await self.send_all()
        while self.flying or any(self.queued.values()):
            await self._wait(self._next_due())
            await self.pump()


def _reader(stream: BinaryIO) -> Callable[[int], bytes]:
    """``read(n)`` on the file descriptor where there is one: no buffer lock is held
    while a pipe stalls, so the interpreter can always shut down."""
    try:
        return functools.partial(os.read, stream.fileno())
    except (AttributeError, OSError, ValueError):
        return getattr(stream, "read1", stream.read)


class _ChunkReader:
    """Reads the input in a daemon thread, at most ``AHEAD`` chunks ahead of the sender:
    file reads overlap with sending, and a stalled pipe blocks neither the event loop
    nor the exit on Ctrl-C."""

    AHEAD = 4

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self.queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self.room = threading.Semaphore(self.AHEAD)
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._run, args=(read, loop), name="produce-input", daemon=True).start()

    def _run(self, read: Callable[[int], bytes], loop: asyncio.AbstractEventLoop) -> None:
        while True:
            self.room.acquire()
            try:
                chunk: bytes | BaseException = read(READ_CHUNK)
            except Exception as exc:  # noqa: BLE001 - handed over to the event loop, raised there
                chunk = exc
            try:
                loop.call_soon_threadsafe(self.queue.put_nowait, chunk)
            except RuntimeError:  # the event loop is closed: the command is over
                return
            if not chunk or isinstance(chunk, BaseException):
                return

    async def next(self, on_wait: Callable[[], Awaitable[None]] | None = None) -> bytes:
        """The next chunk (``b""`` at the end).  If none is ready within the linger time,
        ``on_wait`` runs first (to send the batches that wait for more input)."""
        if self.queue.empty() and on_wait is not None:
            try:
                chunk = await asyncio.wait_for(self.queue.get(), LINGER)
            except TimeoutError:
                await on_wait()
                chunk = await self.queue.get()
        else:
            chunk = await self.queue.get()
        self.room.release()
        if isinstance(chunk, BaseException):
            raise chunk
        return chunk


async def load(
    stream: BinaryIO,
    bootstrap: str,
    topic: str,
    rate: float,
    validate: bool,
    stats: ProduceStats,
    progress,
    say: Callable[[str], None] = lambda message: None,
    retry_for: float = RETRY_FOR,
    request_timeout: float = REQUEST_TIMEOUT,
) -> None:
    """Publish every line of ``stream`` to ``topic``, keyed by account id, at ``rate`` orders/s
    (0: as fast as possible); ``stats`` counts what was sent, ``progress(bytes)`` hears how far it got,
    ``say`` each retry of a batch the brokers did not acknowledge."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="riskstream-produce",
        acks="all",
        linger_ms=int(LINGER * 1000),
        max_batch_size=BATCH_BYTES,
        compression_type=None,
        request_timeout_ms=int(request_timeout * 1000),
        **aiokafka_options(),
    )
    try:
        await start_explained(producer, bootstrap)
        partitions = sorted(await producer.partitions_for(topic))
        loader = _Loader(producer, topic, partitions, stats, say, retry_for)
        bucket = _TokenBucket(rate) if rate > 0 else None
        tick = max(1, int(rate / 20))  # paced: progress every 50 ms or so
        chunks = _ChunkReader(_reader(stream))
        rest, number, consumed = b"", 0, 0
        started = time.perf_counter()
        while True:
            chunk = await chunks.next(on_wait=loader.send_all if loader.open else None)
            if not chunk:
                break
            offset = consumed - len(rest)  # input bytes before the first line of this chunk
            consumed += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            append, send = loader.append, loader.send
            for line in lines:
                number += 1
                if bucket is not None:
                    offset += len(line) + 1
                    if not number % tick:
                        progress(offset)
                if line[-1:] == b"\r":
                    line = line[:-1]
                if not line or line.isspace():
                    continue
                if bucket is not None:
                    await _pace(bucket, loader)
                key = _key_of(line, number, validate, stats)
                if key is not _SKIP:
                    full = append(key, line)
                    if full is not None:
                        await send(*full)
            progress(consumed)
            if stats.error:
                break
        line = rest.rstrip(b"\r")
        if line and not line.isspace() and not stats.error:
            if bucket is not None:
                await _pace(bucket, loader)
            key = _key_of(line, number + 1, validate, stats)
            if key is not _SKIP:
                full = loader.append(key, line)
                if full is not None:
                    await loader.send(*full)
        await loader.finish()
        stats.seconds = time.perf_counter() - started
    finally:
        await producer.stop()


async def _pace(bucket: _TokenBucket, loader: _Loader) -> None:
    if bucket.tokens < 1.0:
        bucket.refill()
        while bucket.tokens < 1.0:
            await loader.send_stale()
            await asyncio.sleep(max(bucket.shortfall(), 0.001))
            bucket.refill()
    bucket.tokens -= 1.0


_SKIP = object()


def _key_of(line: bytes, number: int, validate: bool, stats: ProduceStats) -> Any:
    """The record key for one input line (None: send without a key; ``_SKIP``: do not send)."""
    stats.lines += 1
    if len(line) > MAX_RECORD_BYTES:
        stats.too_large += 1
        stats.note(number, f"{len(line):,} bytes: over the record size limit, not sent")
        return _SKIP
    if validate:
        try:
            return parse_order(line).account_id.encode()
        except EventError as exc:
            stats.invalid += 1
            stats.note(number, str(exc))
    key = _account_key(line)
    if key is None:
        stats.unkeyed += 1
        if not validate:
            stats.note(number, "not a JSON object with a string account_id: sent without a key")
    return key


__all__ = ["ProduceStats", "load"]
