"""Exact sliding windows per key: counts, sums and distinct counts.

A :class:`VelocityWindow` of length ``W`` answers, for an order at time ``t``
and a key (an IP, an address, an account+SKU...), the aggregates over every
order of that key with event time in ``(t - W, t]`` - a true sliding window,
not buckets that drift.

Each key keeps its entries sorted by time.  Orders that arrive in time order
(the common case) cost O(1) amortised: the new entry is appended, running
totals grow, and entries that slid out of the window are subtracted.  An order
that arrives late (older than the key's newest entry) is inserted in place and
its window is summed from the entries directly; entries are kept for
``grace`` seconds past the window so that late orders still see exact
windows.  Anything older is evicted, so memory is bounded by what falls in
``W + grace``.

Keys that went quiet are dropped by :meth:`VelocityWindow.sweep` without
visiting every key: keys are filed in coarse time buckets by their newest
entry, and a bucket older than ``W + grace`` is dropped whole, since every
entry of its keys has left the window and the grace.  A bucket is a plain
list: a key that moved on to a newer bucket stays listed in the old one and
is skipped when that bucket is dropped.

A window holds at most ``max_keys`` keys (``RISKSTREAM_WINDOW_KEY_CAP``), so a
flood of distinct keys (millions of IPs or devices, each seen once) cannot
grow it without bound: when a new key would pass the cap, the stalest keys -
those whose newest entry is oldest, first filed first within one sweep
bucket - are evicted until a tenth of the cap is free, and ``evicted`` counts
them.  An evicted key that comes back starts its window afresh.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Hashable, NamedTuple

from .. import native
from ..timebuckets import TimeBuckets

DEFAULT_KEY_CAP = 1_000_000  #: keys per window unless told otherwise


class Aggregate(NamedTuple):
    count: int
    quantity: float
    amount: float
    distinct: int


# Builds an Aggregate from a plain tuple, without the Python-level __new__
# that NamedTuple generates (the hot path makes one per key per order).
_tuple_new = tuple.__new__


class _Series:
    """One key's entries, sorted by time, with running totals over the window."""

    __slots__ = ("times", "qtys", "amts", "vals", "counts", "head", "win", "qty", "amt", "bucket")

    def __init__(self, distinct: bool):
        self.times: list[float] = []
        self.qtys: list[float] = []
        self.amts: list[float] = []
        self.vals: list[Hashable] | None = [] if distinct else None
        self.counts: dict[Hashable, int] | None = {} if distinct else None
        self.head = 0  # first retained entry
        self.win = 0  # first entry inside the window of the newest entry
        self.qty = 0.0
        self.amt = 0.0
        self.bucket: int | None = None  # the sweep bucket of the newest entry

    def _leave_window(self, index: int) -> None:
        self.qty -= self.qtys[index]
        self.amt -= self.amts[index]
        counts = self.counts
        if counts is not None:
            value = self.vals[index]  # type: ignore[index]
            left = counts[value] - 1
            if left:
                counts[value] = left
            else:
                del counts[value]

    def _enter_window(self, qty: float, amt: float, value: Hashable) -> None:
        self.qty += qty
        self.amt += amt
        counts = self.counts
        if counts is not None:
            counts[value] = counts.get(value, 0) + 1

    def evict(self, cut: float) -> None:
        """Drop entries at or before ``cut`` (they left the window and the grace)."""
        times, head = self.times, self.head
        end = len(times)
        while head < end and times[head] <= cut:
            if head >= self.win:
                self._leave_window(head)
                self.win = head + 1
            head += 1
        self.head = head
        if head > 32 and head * 2 > end:
            del times[:head], self.qtys[:head], self.amts[:head]
            if self.vals is not None:
                del self.vals[:head]
            self.win -= head
            self.head = 0


class VelocityWindow:
    """Sliding-window aggregates of length ``length`` seconds, per key."""

    def __init__(self, length: float, *, distinct: bool = False, grace: float = 300.0,
                 max_keys: int = DEFAULT_KEY_CAP):
        if length <= 0:
            raise ValueError("window length must be positive")
        if max_keys < 1:
            raise ValueError("a window must hold at least one key")
        self.max_keys = max_keys
        self.evicted = 0  # keys dropped to keep under max_keys
        self.length = float(length)
        self.grace = float(grace)
        self.distinct = distinct
        self.watermark = float("-inf")
        # A key seen once holds a bare (t, qty, amount, value) tuple - most keys
        # in real traffic are - and becomes a _Series on its second order.
        self._series: dict[Hashable, _Series | tuple] = {}
        # keys under the sweep bucket of their newest entry
        self._sweep: TimeBuckets[Hashable] = TimeBuckets(max(1.0, (self.length + self.grace) / 4))
        self._distinct_one = 1 if distinct else 0  # the distinct count of a key's first order

    def __len__(self) -> int:
        return len(self._series)

    def keys(self) -> list[Hashable]:
        """The keys held (for privacy checks and reports), in no set order."""
        return list(self._series)

    def entries(self) -> int:
        """Entries currently held (window plus grace), over all keys."""
        return sum(1 if type(s) is tuple else len(s.times) - s.head for s in self._series.values())

    def add(self, key: Hashable, t: float, qty: float = 1, amount: float = 0.0, value: Hashable = None) -> Aggregate:
        """Record one order for ``key`` at time ``t``; return its window's aggregate.

        ``value`` is what the distinct count counts (e.g. the account id) when
        the window was made with ``distinct=True``.  The caller makes sure each
        order is added once per key.
        """
        if t > self.watermark:
            self.watermark = t
        single = (t, qty, amount, value)
        series = self._series.setdefault(key, single)  # one lookup for a new key
        if series is single:
            self._sweep.file_at(key, t)
            if len(self._series) > self.max_keys:
                self._evict_stalest(key)
            return _tuple_new(Aggregate, (1, qty, amount, self._distinct_one))
        if type(series) is tuple:
            series = self._promote(key, series)
        times = series.times
        if series.head == len(times) or t >= times[-1]:
            bucket = int(t // self._sweep.width)  # TimeBuckets.bucket(), inlined: once per order per key
            if bucket != series.bucket:
                series.bucket = bucket
                self._sweep.file(key, bucket)
            return self._append(series, t, qty, amount, value)
        return self._insert_late(series, t, qty, amount, value)

    def _promote(self, key: Hashable, single: tuple) -> _Series:
        series = _Series(self.distinct)
        t, qty, amount, value = single
        series.bucket = self._sweep.bucket(t)  # already filed there
        self._series[key] = series
        self._append(series, t, qty, amount, value)
        return series

    def _append(self, s: _Series, t: float, qty: float, amount: float, value: Hashable) -> Aggregate:
        times = s.times
        times.append(t)
        s.qtys.append(qty)
        s.amts.append(amount)
        if s.vals is not None:
            s.vals.append(value)
        s._enter_window(qty, amount, value)
        start = t - self.length
        win = s.win
        while times[win] <= start:
            s._leave_window(win)
            win += 1
        s.win = win
        if times[s.head] <= start - self.grace:
            s.evict(start - self.grace)
        counts = s.counts
        return _tuple_new(Aggregate, (len(times) - s.win, s.qty, s.amt, len(counts) if counts is not None else 0))

    def _insert_late(self, s: _Series, t: float, qty: float, amount: float, value: Hashable) -> Aggregate:
        times = s.times
        pos = bisect_right(times, t, s.head)
        times.insert(pos, t)
        s.qtys.insert(pos, qty)
        s.amts.insert(pos, amount)
        if s.vals is not None:
            s.vals.insert(pos, value)
        if pos < s.win:
            s.win += 1  # landed before the newest entry's window
        else:
            s._enter_window(qty, amount, value)
        lo = bisect_right(times, t - self.length, s.head, pos)
        hi = pos + 1
        vals = s.vals
        return Aggregate(
            hi - lo,
            sum(s.qtys[lo:hi]),
            sum(s.amts[lo:hi]),
            len(set(vals[lo:hi])) if vals is not None else 0,
        )

    def peek(self, key: Hashable, t: float) -> Aggregate:
        """The aggregate over ``(t - length, t]`` for ``key`` without adding anything."""
        s = self._series.get(key)
        if s is None:
            return Aggregate(0, 0.0, 0.0, 0)
        if type(s) is tuple:
            if t - self.length < s[0] <= t:
                return Aggregate(1, s[1], s[2], 1 if self.distinct else 0)
            return Aggregate(0, 0.0, 0.0, 0)
        times = s.times
        lo = bisect_right(times, t - self.length, s.head)
        hi = bisect_right(times, t, lo)
        vals = s.vals
        return Aggregate(
            hi - lo,
            sum(s.qtys[lo:hi]),
            sum(s.amts[lo:hi]),
            len(set(vals[lo:hi])) if vals is not None else 0,
        )

    def _evict_stalest(self, keep: Hashable) -> None:
        """Drop the stalest keys (never ``keep``, the one just added) until a tenth of the cap is free."""
        target = max(1, self.max_keys - max(1, self.max_keys // 10))
        series_of, sweep = self._series, self._sweep
        for bucket, keys in sweep.oldest_first():
            if len(series_of) <= target:
                break
            kept = []
            n = 0
            end = len(keys)
            while n < end and len(series_of) > target:
                key = keys[n]
                n += 1
                if key == keep:
                    kept.append(key)
                    continue
                series = series_of.get(key)
                if series is None:
                    continue
                newest = sweep.bucket(series[0]) if type(series) is tuple else series.bucket
                if newest == bucket:  # else it is filed under a newer bucket too
                    del series_of[key]
                    self.evicted += 1
            keys[:n] = kept
            if not keys:
                sweep.drop(bucket)

    def sweep(self) -> int:
        """Drop the keys whose newest entry left the window and the grace; returns how many."""
        cut = self.watermark - self.length - self.grace
        dropped = 0
        for bucket, keys in self._sweep.expired(cut):
            for key in keys:
                series = self._series.get(key)
                if series is None:
                    continue
                newest = self._sweep.bucket(series[0]) if type(series) is tuple else series.bucket
                if newest == bucket:  # else it moved on to a newer bucket
                    del self._series[key]
                    dropped += 1
        return dropped


def new_window(length: float, *, distinct: bool = False, grace: float = 300.0) -> VelocityWindow:
    """A :class:`VelocityWindow`: the native core's twin when it is in use (see
    :mod:`riskstream.native`), else the pure-Python one.  Both give equal aggregates."""
    core = native.core()
    if core is None:
        return VelocityWindow(length, distinct=distinct, grace=grace)
    return core.VelocityWindow(length, Aggregate, distinct=distinct, grace=grace)
