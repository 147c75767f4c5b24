"""The worker's state directory: checked before anything starts.

A worker keeps its decision state in memory and rebuilds it from its topics
whenever it is handed partitions (:mod:`.recovery`); the state directory
holds only what Faust writes there (its table and offset bookkeeping).  So
nothing on disk is the only copy of anything: a corrupt directory costs a
rebuild from the topics, never a wrong decision.  What must not happen is a
worker that starts on a directory it cannot write - it would fail later,
half-way, with a confusing error.  :func:`check_state_dir` makes sure the
directory exists, is a directory, takes a file of ``probe_bytes`` and has
``min_free_bytes`` free, and raises :class:`StateDirError` saying which and
what to do otherwise; ``riskstream worker`` then exits with status 2.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["MIN_FREE_BYTES", "PROBE_BYTES", "StateDirError", "check_state_dir"]

PROBE_BYTES = 1 << 20  #: bytes written (and removed) to prove the directory takes data
MIN_FREE_BYTES = 64 << 20  #: free bytes a worker wants in its state directory's file system


class StateDirError(OSError):
    """The state directory cannot hold a worker's state; the message says why and what to do."""


def check_state_dir(path: str | Path, *, probe_bytes: int = PROBE_BYTES,
                    min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """Create ``path`` if needed and prove it writable with room to spare; the path."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StateDirError(errno.ENOTDIR, f"state directory {path} exists and is not a directory: "
                                           "remove it or pass another --data-dir") from None
    except OSError as exc:
        raise StateDirError(exc.errno, f"cannot create state directory {path}: {exc.strerror or exc}; "
                                       "pass a writable --data-dir") from None
    if not path.is_dir():
        raise StateDirError(errno.ENOTDIR, f"state directory {path} is not a directory: pass another --data-dir")
    probe = path / f".riskstream-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as out:
            block = b"\0" * min(probe_bytes, 1 << 16)
            left = probe_bytes
            while left > 0:
                left -= out.write(block[:left])
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        what = "is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "is not writable"
        raise StateDirError(exc.errno, f"state directory {path} {what} ({exc.strerror or exc}): free space "
                                       "there or pass another --data-dir") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    stats = os.statvfs(path)
    free = stats.f_bavail * stats.f_frsize
    if free < min_free_bytes:
        raise StateDirError(errno.ENOSPC, f"state directory {path} has {free / 2**20:.1f} MiB free, less than "
                                          f"the {min_free_bytes / 2**20:.0f} MiB a worker wants: free space there "
                                          "or pass another --data-dir")
    return path
