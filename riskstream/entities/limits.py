"""Bounds shared by the entity key functions: their LRU caches and what they cache."""

CACHE_SIZE = 65_536  #: entries per key function's LRU cache
CACHE_MAX_LEN = 256  #: longer inputs are computed but not cached, so that junk can't fill memory
