"""Event-time buckets for sweeping: what a sweep needs to visit, and nothing else.

State that ages out (window keys, remembered order ids, graph links, recent
orders) files each item under the bucket of event time it may expire from.
A sweep then takes out only the buckets that event time has left behind,
instead of visiting everything held.  Items are listed, not deduplicated:
whoever files an item again under a newer bucket checks, when an old bucket
comes out, whether the item moved on.
"""

from __future__ import annotations

from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class TimeBuckets(Generic[T]):
    """Items by event-time bucket of ``width`` seconds, in filing order."""

    __slots__ = ("width", "_lists")

    def __init__(self, width: float):
        self.width = float(width)
        self._lists: dict[int, list[T]] = {}

    def __len__(self) -> int:
        """Buckets held."""
        return len(self._lists)

    def bucket(self, ts: float) -> int:
        """The bucket of event time ``ts``."""
        return int(ts // self.width)

    def file(self, item: T, bucket: int) -> None:
        """List ``item`` under ``bucket`` (see :meth:`bucket`)."""
        items = self._lists.get(bucket)
        if items is None:
            self._lists[bucket] = [item]
        else:
            items.append(item)

    def file_at(self, item: T, ts: float) -> None:
        """List ``item`` under the bucket of event time ``ts``."""
        bucket = int(ts // self.width)  # file(), inlined: it runs on every new key of a window
        items = self._lists.get(bucket)
        if items is None:
            self._lists[bucket] = [item]
        else:
            items.append(item)

    def expired(self, cut: float) -> Iterator[tuple[int, list[T]]]:
        """Take out every bucket that ends at or before ``cut``: ``(bucket, items)``, in filing
        order.  Items filed again while this runs go to the buckets after ``cut``."""
        width = self.width
        for bucket in [b for b in self._lists if (b + 1) * width <= cut]:
            yield bucket, self._lists.pop(bucket)

    def oldest_first(self) -> Iterator[tuple[int, list[T]]]:
        """Every bucket and its list, oldest first (not taken out: the caller may shorten a list)."""
        for bucket in sorted(self._lists):
            items = self._lists.get(bucket)
            if items is not None:
                yield bucket, items

    def drop(self, bucket: int) -> None:
        """Take out ``bucket`` whatever it holds."""
        self._lists.pop(bucket, None)

    def items(self) -> Iterator[T]:
        """Every item filed and not taken out yet, bucket by bucket (for tests and reports)."""
        for items in self._lists.values():
            yield from items
