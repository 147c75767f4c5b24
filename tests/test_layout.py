"""The package's shape: every module imports on its own, and the public surface is pinned.

The import layers themselves are checked by ``make lint`` (import-linter, see
``[tool.importlinter]`` in pyproject.toml).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import warnings

import riskstream

PUBLIC = [
    "Cluster",
    "Decision",
    "DecisionEngine",
    "EventError",
    "Item",
    "OrderEvent",
    "Outcome",
    "Reason",
    "Rule",
    "RuleFileError",
    "RuleSet",
    "Verdict",
    "VerdictError",
    "load_ruleset",
    "parse_order",
    "parse_verdict",
]


def all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(riskstream.__path__, "riskstream.")
                  if not m.name.endswith(".__main__"))


def test_the_public_surface_is_the_products_nouns():
    assert riskstream.__all__ == sorted(riskstream.__all__)
    assert riskstream.__all__ == PUBLIC
    assert all(hasattr(riskstream, name) for name in riskstream.__all__)


def test_every_module_imports_on_its_own():
    """Each module in a fresh set of riskstream modules, so none works only because another was imported first."""
    modules = all_modules()
    assert len(modules) > 60 and "riskstream.engine.core" in modules
    script = (
        "import importlib, sys, warnings\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m == 'riskstream' or m.startswith('riskstream.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {exc!r}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *modules], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_old_pipeline_module_still_answers_with_a_deprecation_warning():
    from riskstream.kafka.pipeline import OrderPublisher

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from riskstream.pipeline import OrderPublisher as old

    assert old is OrderPublisher
    assert any(issubclass(w.category, DeprecationWarning) and "riskstream.kafka.pipeline" in str(w.message)
               for w in caught)
