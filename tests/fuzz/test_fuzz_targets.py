"""The fuzz targets in ``make test``: every corpus input again, then a short hypothesis run per target.

The long, coverage-guided campaign is ``make fuzz`` (atheris, a million executions).
"""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from targets import TARGETS

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_corpus_input_passes(name):
    inputs = sorted((CORPUS / name).iterdir())
    assert inputs, f"no corpus for {name}"
    for path in inputs:
        TARGETS[name](path.read_bytes())


def _seeds(name: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((CORPUS / name).iterdir())][:50]


def _mutated(name: str):
    """Corpus inputs with a slice replaced by random bytes, and plain random bytes."""
    seeds = st.sampled_from(_seeds(name))
    splice = st.tuples(seeds, st.integers(0, 4096), st.integers(0, 64), st.binary(max_size=64)).map(
        lambda t: t[0][: t[1]] + t[3] + t[0][t[1] + t[2]:])
    return st.one_of(splice, st.binary(max_size=512), st.text(max_size=200).map(str.encode))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_short_random_run(name):
    runs = 60 if name == "rules" else 400

    @settings(max_examples=runs, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(_mutated(name))
    def run(data):
        TARGETS[name](data)

    run()
