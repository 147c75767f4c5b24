"""Run one fuzz target under atheris (libFuzzer): ``python tests/fuzz/run.py TARGET [libFuzzer flags] [CORPUS...]``.

riskstream's modules are instrumented for coverage, so libFuzzer grows the
corpus with inputs that reach new code.  An exception escaping the target is
a crash: libFuzzer stops, writes the input as ``crash-*`` and exits non-zero.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["riskstream"]):
    from targets import TARGETS  # noqa: E402


def main() -> None:
    name, *flags = sys.argv[1:]
    target = TARGETS[name]
    atheris.Setup([sys.argv[0], *flags], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
