"""Which implementation holds the hot state: the native core, or pure Python.

The native core (``riskstream_native``, Rust behind PyO3, built from ``native/``)
keeps the sliding windows and the entity graph's union-find, and computes the
keyed pseudonyms; the pure-Python implementation stays beside it as the
fallback and the oracle, with the same results for every input.
riskstream uses the native core when it is importable, unless
``RISKSTREAM_NATIVE=0`` forces pure Python (``RISKSTREAM_NATIVE=1`` makes a
missing core an error instead of a fallback).  :func:`implementation` says
which one runs; the choice is logged once, when first used.

A core built from older sources (a virtualenv not rebuilt after ``git pull``)
may lack a class or method this Python calls: it is then not used, and one
warning names what is missing and how to rebuild it (``make native``), rather
than failing mid-stream with an ``AttributeError``.  With ``RISKSTREAM_NATIVE=1``
such a core is an error.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator

__all__ = ["ENV", "NativeUnavailable", "available", "core", "implementation", "pure_python"]

ENV = "RISKSTREAM_NATIVE"
_OFF = {"0", "false", "no", "off"}
_ON = {"1", "true", "yes", "on"}

log = logging.getLogger("riskstream.native")

#: What the Python side calls on the native core: module attributes, and the
#: methods and properties of its classes.  A core lacking any of them is stale.
REQUIRED: dict[str, tuple[str, ...]] = {
    "": ("VelocityWindow", "ClusterIndex", "pseudonym", "AddressTagger", "AddressMatcher"),
    "VelocityWindow": ("add", "peek", "sweep", "keys", "entries", "length", "grace", "distinct", "watermark",
                       "max_keys", "evicted"),
    "ClusterIndex": ("accounts_of", "advance", "born", "cluster_of", "clusters", "find_cluster", "first_seen",
                     "hub_accounts", "hub_limit", "hub_limits", "hubs", "kinds_by_member", "lineage", "link",
                     "links_of", "members", "members_born", "members_from", "passed", "rebuilds", "refresh",
                     "retention", "serial", "shared_kinds", "sharing", "size", "spot_links", "stamp", "sweep",
                     "sweep_every", "watermark"),
    "AddressTagger": ("block", "chinese", "signature", "tags"),
    "AddressMatcher": ("match", "match_key", "match_new", "size", "groups"),
}


def missing_parts(module: ModuleType) -> list[str]:
    """What :data:`REQUIRED` names that ``module`` lacks (``Class.method`` or ``function``)."""
    out = [name for name in REQUIRED[""] if not hasattr(module, name)]
    for cls, names in REQUIRED.items():
        if cls and hasattr(module, cls):
            owner = getattr(module, cls)
            out.extend(f"{cls}.{name}" for name in names if not hasattr(owner, name))
    return out


class NativeUnavailable(RuntimeError):
    """``RISKSTREAM_NATIVE=1`` but the native core cannot be imported."""


def _load() -> tuple[ModuleType | None, str]:
    wanted = os.environ.get(ENV, "").strip().lower()
    if wanted in _OFF:
        return None, f"pure Python ({ENV}={os.environ[ENV]})"
    if wanted and wanted not in _ON:
        raise ValueError(f"{ENV} must be 0 or 1 (or unset: native when installed), not {os.environ[ENV]!r}")
    try:
        import riskstream_native
    except ImportError as exc:
        if wanted in _ON:
            raise NativeUnavailable(f"{ENV}={os.environ[ENV]} but the native core is not installed "
                                    f"({exc}); install it with `pip install ./native`") from exc
        return None, "pure Python (riskstream_native not installed; `pip install ./native` builds it)"
    missing = missing_parts(riskstream_native)
    if missing:
        version = getattr(riskstream_native, "__version__", "?")
        problem = (f"the installed riskstream_native {version} is older than this riskstream: it lacks "
                   f"{', '.join(missing)}; rebuild it with `make native` (or `pip install ./native`)")
        if wanted in _ON:
            raise NativeUnavailable(f"{ENV}={os.environ[ENV]} but {problem}")
        log.warning("riskstream state core: pure Python, since %s", problem)
        return None, f"pure Python (stale riskstream_native {version}, lacks {', '.join(missing)}; `make native` rebuilds it)"
    return riskstream_native, f"native (riskstream_native {riskstream_native.__version__})"


_core, _description = _load()
_logged = False
_pure_depth = 0  # > 0 inside pure_python()


def core() -> ModuleType | None:
    """The native module in use, or None for pure Python (logged once)."""
    global _logged
    if _pure_depth:
        return None
    if not _logged:
        _logged = True
        log.info("riskstream state core: %s", _description)
    return _core


def available() -> bool:
    """True when the native core is importable and not switched off."""
    return _core is not None


@contextmanager
def pure_python() -> Iterator[None]:
    """State made within is pure Python, whatever is installed: the oracle side of a
    comparison between both implementations (tests, ``riskstream bench``)."""
    global _pure_depth
    _pure_depth += 1
    try:
        yield
    finally:
        _pure_depth -= 1


def implementation() -> str:
    """One line saying which implementation holds the hot state, and why."""
    return _description
