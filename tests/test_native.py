"""Choosing the state core: native when importable, pure Python when told or when missing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SAY = "from riskstream import native; print(native.implementation())"


def run(env: dict[str, str], path: str | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **env}
    if path is not None:
        full["PYTHONPATH"] = path + os.pathsep + full.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", SAY], env=full, capture_output=True, text=True, timeout=60)


def test_zero_forces_pure_python():
    done = run({"RISKSTREAM_NATIVE": "0"})
    assert done.returncode == 0 and done.stdout.startswith("pure Python (RISKSTREAM_NATIVE=0)")


def test_a_missing_core_falls_back_unless_it_is_required(tmp_path):
    # a directory first on the path whose riskstream_native cannot be imported
    (tmp_path / "riskstream_native.py").write_text("raise ImportError('no native build here')\n")
    fallback = run({"RISKSTREAM_NATIVE": ""}, str(tmp_path))
    assert fallback.returncode == 0 and fallback.stdout.startswith("pure Python (riskstream_native not installed")
    required = run({"RISKSTREAM_NATIVE": "1"}, str(tmp_path))
    assert required.returncode != 0 and "NativeUnavailable" in required.stderr and "pip install ./native" in required.stderr


def test_a_bad_setting_names_what_is_expected():
    done = run({"RISKSTREAM_NATIVE": "maybe"})
    assert done.returncode != 0 and "RISKSTREAM_NATIVE must be 0 or 1" in done.stderr


def test_the_installed_core_is_used_by_default():
    pytest.importorskip("riskstream_native")
    done = run({"RISKSTREAM_NATIVE": ""})
    assert done.returncode == 0 and done.stdout.startswith("native (riskstream_native ")


STALE = """
__version__ = "0.0.1"
class VelocityWindow:
    pass
class ClusterIndex:
    pass
"""


def test_a_stale_core_falls_back_with_one_warning(tmp_path):
    # an old build: the classes are there, but without the methods (and functions) this Python calls
    (tmp_path / "riskstream_native.py").write_text(STALE)
    fallback = run({"RISKSTREAM_NATIVE": ""}, str(tmp_path))
    assert fallback.returncode == 0, fallback.stderr
    assert fallback.stdout.startswith("pure Python (stale riskstream_native 0.0.1, lacks pseudonym, AddressTagger, "
                                      "AddressMatcher, VelocityWindow.add")
    warnings = [line for line in fallback.stderr.splitlines() if "riskstream_native" in line]
    assert len(warnings) == 1 and "make native" in warnings[0] and "VelocityWindow.add" in warnings[0]
    required = run({"RISKSTREAM_NATIVE": "1"}, str(tmp_path))
    assert required.returncode != 0 and "NativeUnavailable" in required.stderr and "lacks pseudonym" in required.stderr


def test_the_installed_core_has_everything_this_python_calls():
    core = pytest.importorskip("riskstream_native")
    from riskstream.native import missing_parts

    assert missing_parts(core) == []


def test_the_native_state_may_be_freed_on_another_thread():
    """The cyclic collector frees what it finds on whichever thread it runs (a console request's, a
    timer's): a native index or window built on one thread and freed on another raises nothing."""
    import gc
    import sys
    import threading

    from riskstream import native
    from riskstream.engine.windows import new_window
    from riskstream.graph import new_cluster_index

    if native.core() is None:
        pytest.skip("the native core is not in use")
    index = new_cluster_index(hub_accounts=3)
    assert type(index).__module__ == "riskstream_native"
    index.link("u-1", ["device:d1", "ip:10.0.0.1"], 1.0)
    index.link("u-2", ["device:d1"], 2.0)
    window = new_window(60.0, distinct=True)
    window.add("k", 1.0, value="u-1")
    held = [index, window]
    held.append(held)  # a cycle: only the collector frees it
    del index, window, held
    refused = []  # PyO3 reports an object it may not free on this thread as an unraisable error
    hook, sys.unraisablehook = sys.unraisablehook, refused.append
    try:
        collector = threading.Thread(target=gc.collect)
        collector.start()
        collector.join()
    finally:
        sys.unraisablehook = hook
    assert [str(r.exc_value) for r in refused] == []
