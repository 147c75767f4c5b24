"""Storage faults before a worker starts: a state directory that is a file, full, or too small
stops ``riskstream worker`` with a clear error and exit status 2, and leaves nothing behind."""

import os
import resource
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from riskstream.stream.storage import StateDirError, check_state_dir

ROOT = Path(__file__).resolve().parents[2]


def worker(data_dir: Path, **popen) -> subprocess.CompletedProcess:
    """``riskstream worker`` on a broker that does not exist: the state directory is checked first."""
    return subprocess.run(
        [sys.executable, "-m", "riskstream.cli", "worker", "--bootstrap", "127.0.0.1:9", "--data-dir", str(data_dir),
         "--rules", str(ROOT / "rules"), "--app-id", f"rs-storage-{uuid.uuid4().hex[:6]}"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, **popen)


@pytest.fixture
def tiny_fs(tmp_path):
    """A 256 KiB tmpfs (root may mount one), unmounted after the test."""
    where = tmp_path / "tiny"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (tests run as root): {mounted.stderr.decode()}")
    yield where
    subprocess.run(["umount", str(where)], check=True)


def test_a_state_directory_that_is_a_file(tmp_path):
    (tmp_path / "state").write_text("not a directory")
    with pytest.raises(StateDirError, match="exists and is not a directory"):
        check_state_dir(tmp_path / "state")
    with pytest.raises(StateDirError, match="cannot create"):
        check_state_dir(tmp_path / "state" / "below")
    done = worker(tmp_path / "state")  # refused by the option's own check
    assert done.returncode == 2 and "is a file" in done.stderr and "Traceback" not in done.stderr
    done = worker(tmp_path / "state" / "below")
    assert done.returncode == 2 and "error: cannot create state directory" in done.stderr
    assert "Not a directory" in done.stderr and "Traceback" not in done.stderr


def test_a_full_state_directory(tiny_fs):
    with pytest.raises(StateDirError, match="is full") as caught:
        check_state_dir(tiny_fs / "state")
    assert "No space left on device" in str(caught.value)
    assert [p.name for p in (tiny_fs / "state").iterdir()] == []  # the probe is gone
    done = worker(tiny_fs / "state")
    assert done.returncode == 2 and "is full" in done.stderr and "Traceback" not in done.stderr


def test_too_little_room_left(tiny_fs):
    with pytest.raises(StateDirError, match="MiB free, less than"):
        check_state_dir(tiny_fs, probe_bytes=1024)


def test_a_file_size_limit_counts_as_full(tmp_path):
    """Without a tmpfs, RLIMIT_FSIZE makes the same write fail (EFBIG)."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    done = worker(tmp_path / "state", preexec_fn=limit)
    assert done.returncode == 2 and "is full (File too large)" in done.stderr


def test_a_writable_directory_passes(tmp_path):
    assert check_state_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert os.listdir(tmp_path / "a" / "b") == []
